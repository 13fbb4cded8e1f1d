# Entry points; the work is done by the scripts in scripts/.
.PHONY: setup demo test unit lint devchain clean

setup:
	bash scripts/setup.sh

# The main job: the whole market on this machine (see README).
demo: setup
	.venv/bin/ccnet demo

test: setup
	bash scripts/test.sh

# The fast tests alone (no dev chain, no daemons): what to run while working.
unit:
	.venv/bin/pytest -q tests/unit

lint:
	.venv/bin/ruff check
	.venv/bin/ruff format --check
	.venv/bin/mypy

# Start the dev chain in the background (stop: scripts/devchain.sh stop).
devchain:
	bash scripts/devchain.sh start

clean:
	-bash scripts/devchain.sh stop
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .benchmarks .state/devchain
	find . -name __pycache__ -not -path './node_modules/*' -not -path './.venv/*' -prune -exec rm -rf {} +
