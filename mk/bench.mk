# mk/bench.mk: benchmarks against the doubles on 127.0.0.1. Included at
# the end of the Makefile.
#
#   make bench        the release binary against the doubles: throughput
#                     of a 30 MB POP3 RETR and SMTP DATA against a direct
#                     XOAUTH2 client, login latency, CPU per GB beside
#                     BearSSL's record layer alone (tls-floor), memory
#                     with 100 and 1,000 idle sessions, start-up time and
#                     binary size; medians of BENCH_RUNS (5) runs
#
# The first pass runs against the Python doubles, the second against
# tests/bench/bench-double.c, a C stand-in for the POP3 and SMTP servers
# that is fast enough not to set the pace. The tables go to stdout and
# build/bench/results*.txt, the figures to build/bench/results*.json;
# docs/benchmarks.md records a run.

BENCH_RUNS ?= 5
BENCH_MB ?= 30
BENCH_SESSIONS ?= 100,1000

.PHONY: bench

# The floor links the same BearSSL as the release binary.
$(B)/bench/tls-floor: tests/bench/tls-floor.c $(MUSL_STAMPS) | deps
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_CFLAGS) $(MUSL_LDFLAGS) -o $@ $< -L$(MUSL)/lib \
	    -lbearssl

# The C double serves as the upstream in a second pass; it links the
# release objects for its streams.
BENCH_DOUBLE_OBJS := $(filter-out $(B)/release/obj/main.o,$(release_OBJS))

$(B)/bench/bench-double: tests/bench/bench-double.c $(BENCH_DOUBLE_OBJS)
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_CFLAGS) $(MUSL_LDFLAGS) -o $@ $< \
	    $(BENCH_DOUBLE_OBJS) $(MUSL_LIBS)

BENCH_ARGS = --bin $(B)/exoconnect --floor $(B)/bench/tls-floor \
	--runs $(BENCH_RUNS) --mb $(BENCH_MB) --sessions $(BENCH_SESSIONS)

bench: $(B)/exoconnect $(B)/bench/tls-floor $(B)/bench/bench-double
	python3 tests/bench/bench.py $(BENCH_ARGS) \
	    --json $(B)/bench/results.json | tee $(B)/bench/results.txt
	python3 tests/bench/bench.py $(BENCH_ARGS) \
	    --fast-double $(B)/bench/bench-double \
	    --json $(B)/bench/results-c.json | tee $(B)/bench/results-c.txt
