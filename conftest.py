# The embedspec plugin arrives through its pytest11 entry point (pip install -e .), exactly
# as it does in a user's repository, so that a clone tests the plugin users get.
