"""Metadata store adapters (`ports.MetadataStore`): `sqlite:///` embedded, the default, and
`postgresql://` shared by a region's nodes. Each opens from its URL (`from_url`, awaited),
applying the schema's migrations first."""
