"""The composition root: the one place that names concrete adapters, chosen from settings.

config.py        settings → the small typed values inner layers take
backends.py      backend URLs (memory://, redis://, ...) → adapters: the one registry
dependencies.py  `open_dependencies(settings)`: everything a process needs, opened at
                 start and closed at shutdown in reverse order (no web shell)
app.py           `build_app(deps)`: the HTTP application over those dependencies
worker.py        `build_worker(deps)`: the background work, without the web shell
"""
