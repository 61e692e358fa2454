"""kumo's storage layer: object stores (`file://`, `s3://`), the metadata database, and the
`KUMO_*` settings every other platform part reads (it sits lowest, so all may import it)."""
