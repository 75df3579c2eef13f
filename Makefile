# Smudge: the two commands are `make lab` and `make test`; the rest are for maintainers.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# torch is pinned here only because this is what the offline build machines serve;
# override on your laptop with e.g. `make lab TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
NBVAL   = --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
PORT   ?= 8888
# JupyterLab refuses to run as root without this flag (containers, CI)
ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test test-helpers test-notebooks notebooks course checkpoints scoreboard sweep bench install clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev,scoreboard]"
	touch $@

install: $(VENV)/.installed

lab: install
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --no-browser \
		--ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00_start_here.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# two workers, a test file (or a notebook) each at a time, one torch thread each
XDIST   = -n 2 --dist loadfile
test: install
	SMUDGE_THREADS=1 $(PY) -m pytest $(XDIST) tests notebooks $(NBVAL)

test-helpers: install
	$(PY) -m pytest tests

test-notebooks: install
	$(PY) -m pytest notebooks $(NBVAL)

notebooks: install
	$(PY) tools/run_notebooks.py --inplace

course: install
	$(PY) tools/run_notebooks.py --jobs 2

checkpoints: install
	$(PY) -m helpers.recipes --jobs 2
	$(PY) tools/data_readme.py

scoreboard: install
	$(PY) -m helpers.scoreboard

sweep: install
	SMUDGE_THREADS=1 $(PY) -m helpers.sweep

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
