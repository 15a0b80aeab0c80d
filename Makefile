# Portcullis: `make run` and `make test` work on a fresh Debian 12 machine as root.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
export DEBIAN_FRONTEND := noninteractive

SWIFT_BUILD_FLAGS ?=
CONFIG ?= examples/portcullis.yml
BIN_DEBUG := .build/debug/portcullis
BIN_RELEASE := .build/release/portcullis

# Debian packages: libmilter, libunbound and SQLite to build and run; Postfix, swaks, NSD (the test
# DNS server) and PostgreSQL for the tests. The tests run NSD and PostgreSQL as child processes
# on loopback ports in temporary folders, never as system services.
RUN_PACKAGES := libmilter-dev libunbound-dev libsqlite3-dev
TEST_PACKAGES := $(RUN_PACKAGES) postfix swaks nsd python3 postgresql openssl

.PHONY: all build release run test test-unit test-e2e test-dns deps-run deps-test users clean print-defaults check-examples bench

all: build

# Installs only what is missing, so a second run costs nothing.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  echo "postfix postfix/mailname string localhost" | debconf-set-selections; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  if echo "$$missing" | grep -qw nsd; then systemctl disable --now nsd >/dev/null 2>&1 || true; fi; \
	  if echo "$$missing" | grep -qw postgresql; then \
	    systemctl disable --now postgresql >/dev/null 2>&1 || true; pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; \
	  fi; \
	fi
endef

deps-run:
	$(call apt_install,$(RUN_PACKAGES))

deps-test:
	$(call apt_install,$(TEST_PACKAGES))

# The example configuration runs as user `portcullis` with its socket in group `postfix`.
users:
	@getent group postfix >/dev/null || groupadd --system postfix
	@id portcullis >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin portcullis

build: deps-run
	swift build $(SWIFT_BUILD_FLAGS)

release: deps-run
	swift build -c release $(SWIFT_BUILD_FLAGS)

run: release users
	$(BIN_RELEASE) configtest --config $(CONFIG)
	exec $(BIN_RELEASE) run --foreground --config $(CONFIG)

test: deps-test
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	$(MAKE) --no-print-directory check-examples
	python3 tests/pg/pgcluster.py run -- swift test --skip-build --parallel --num-workers 2
	python3 -m unittest discover -s tests/dns -p 'test_*.py'
	PORTCULLIS_BIN=$(CURDIR)/$(BIN_DEBUG) python3 tests/e2e/run.py

test-unit: deps-run
	PORTCULLIS_TEST_POSTGRES=skip swift test $(SWIFT_BUILD_FLAGS) --skip MilterLiveTests

test-e2e: deps-test build
	PORTCULLIS_BIN=$(CURDIR)/$(BIN_DEBUG) python3 tests/e2e/run.py

test-dns: deps-test
	python3 -m unittest discover -s tests/dns -p 'test_*.py'

# Benchmarks report numbers; they never fail on speed. The debug build is not representative.
bench: deps-test release
	python3 bench/dns_bench.py --bin $(CURDIR)/$(BIN_RELEASE)
	swift build -c release --product portcullis-bench $(SWIFT_BUILD_FLAGS)
	python3 tests/pg/pgcluster.py run -- sh -c '.build/release/portcullis-bench --postgres "$$PORTCULLIS_TEST_POSTGRES_URL"'

# The example configuration is the defaults, verbatim, and it must load.
check-examples:
	@$(BIN_DEBUG) print-defaults | diff -u examples/portcullis.yml - && echo "examples/portcullis.yml matches print-defaults"
	@for f in examples/*.yml; do $(BIN_DEBUG) configtest --config $$f || exit 1; done

print-defaults: build
	@$(BIN_DEBUG) print-defaults

clean:
	rm -rf .build
