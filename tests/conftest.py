from hypothesis import settings

pytest_plugins = ["pytester"]

# The power tests run the specification in-process against many implementations: each
# run uses the dev profile's examples, without an example database, so that one
# mutant's saved failures are never replayed against another and every verdict is
# a function of the seed alone.
settings.register_profile("mutants", settings.get_profile("dev"), database=None)
