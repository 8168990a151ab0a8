"""Blob store adapters (`ports.BlobStore`): `memory://` in the process, `file:///path` on a
filesystem, `s3://bucket/prefix` in an S3 bucket. Each is built from its URL (`from_url`),
and each checks keys and hashes with the same rules (`core.blobs`)."""
