"""The sub-plugins' per-run collectors: kept in ``config.stash`` and registered for the run's hooks."""


def attach(config, key, collector, name):
    """Keep ``collector`` under ``key`` and register it as a plugin of this run."""
    config.stash[key] = collector
    config.pluginmanager.register(collector, f"{name}-{id(config)}")


def detach(config, key):
    """Unregister and forget the collector kept under ``key``, if there is one."""
    collector = config.stash.get(key, None)
    if collector is not None:
        config.pluginmanager.unregister(collector)
        del config.stash[key]
