"""Region cache adapters (`ports.RegionCache`): `memory://` in the process, `redis://` shared
by the nodes of a region. Each is built from its URL (`from_url`)."""
