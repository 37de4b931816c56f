# The two commands of the README. Each sets up what it needs on a fresh machine.
.PHONY: demo test lint simulate

demo:
	bash deploy/demo.sh

test:
	bash deploy/test.sh

lint:
	PYBIN=$$(bash deploy/bootstrap.sh --extras dev | tail -n 1) && $$PYBIN -m ruff check stream_al tests benchmarks \
		&& $$(dirname $$PYBIN)/lint-imports
