# The two commands: `make demo` and `make test`. Each does its own set-up.
.PHONY: setup demo test test-fast clean image

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/sessionbot demo

test: setup
	.venv/bin/python -m pytest

# The quick loop while working: no model, no call.
test-fast: setup
	.venv/bin/python -m pytest -m "not slow"

clean:
	rm -rf .venv build *.egg-info

# The container image, from Debian packages and the hashed lock (no base image pulled), cached by
# content; deploy/image/README.md says how to run it.
image: setup
	nice -n 10 bash deploy/image/build.sh
