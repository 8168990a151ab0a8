"""Event bus adapters (`ports.EventBus`): `memory://` inside one process, `nats://` a region's
JetStream stream shared by its nodes and read by the other regions. Each is built from its
URL (`from_url`)."""
