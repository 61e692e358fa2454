"""tf.app.flags and tf.app.run: a TF 1.x trainer's command line."""

import subprocess
import sys
import textwrap

import pytest

import engine as tf

flags = tf.app.flags


def _defined() -> flags.FlagValues:
    values = flags.FlagValues()
    flags.DEFINE_string("data_dir", "/tmp/data", "where", flag_values=values)
    flags.DEFINE_integer("max_steps", 100, "steps", flag_values=values)
    flags.DEFINE_float("learning_rate", 0.01, "rate", flag_values=values)
    flags.DEFINE_boolean("fake_data", False, "fake", flag_values=values)
    flags.DEFINE_list("layers", "64,32", "sizes", flag_values=values)
    flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "which", flag_values=values)
    return values


def test_flags_parse_every_spelling_and_keep_the_other_arguments() -> None:
    values = _defined()
    assert values.layers == ["64", "32"] and values.max_steps == 100  # defaults before parsing
    rest = values(["prog", "--max_steps=7", "--learning-rate", "0.5", "--fake_data",
                   "--layers=8,4,2", "input.csv", "--optimizer=sgd", "--", "--not-a-flag"])
    assert rest == ["prog", "input.csv", "--not-a-flag"]
    assert (values.max_steps, values.learning_rate, values.fake_data, values.layers,
            values.optimizer, values.data_dir) == (7, 0.5, True, ["8", "4", "2"], "sgd",
                                                   "/tmp/data")
    values(["prog", "--nofake_data"])
    assert values.fake_data is False
    values.max_steps = 3  # scripts and tests override flags by assignment
    assert values.flag_values_dict()["max_steps"] == 3


@pytest.mark.parametrize(("argv", "match"), [
    (["prog", "--max_steps=many"], "max_steps"),
    (["prog", "--optimizer=rmsprop"], "one of"),
    (["prog", "--unknown=1"], "Unknown command line flag"),
    (["prog", "--data_dir"], "must have a value"),
])
def test_bad_command_lines_name_the_flag(argv, match) -> None:
    with pytest.raises(flags.Error, match=match):
        _defined()(argv)


def test_definitions_are_checked() -> None:
    values = _defined()
    with pytest.raises(flags.Error, match="defined twice"):
        flags.DEFINE_integer("max_steps", 1, "again", flag_values=values)
    with pytest.raises(flags.Error, match="not one of"):
        flags.DEFINE_enum("mode", "fast", ["slow"], "", flag_values=values)
    with pytest.raises(AttributeError, match="Unknown flag 'missing'"):
        _ = values.missing


def test_a_tf1_trainer_script_runs_with_tf_app_run(tmp_path) -> None:
    script = tmp_path / "task.py"
    script.write_text(textwrap.dedent("""
        import engine as tf

        tf.app.flags.DEFINE_integer("max_steps", 10, "steps")
        tf.flags.DEFINE_string("job_dir", "", "output")
        FLAGS = tf.app.flags.FLAGS

        def main(argv):
            print(FLAGS.max_steps, FLAGS.job_dir, argv[1:])
            return 3

        if __name__ == "__main__":
            tf.app.run()
    """))
    done = subprocess.run([sys.executable, str(script), "--max_steps=42", "--job-dir", "gs",
                           "extra"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (3, "42 gs ['extra']")
    bad = subprocess.run([sys.executable, str(script), "--max_step=1"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "Unknown command line flag 'max_step'" in bad.stderr
