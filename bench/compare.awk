# SPDX-License-Identifier: MIT
#
# The tables of compare.sh from its results file. Lines:
#   R side=S rep=N id=ROW key=value ...   one measurement of one process
#   E side=S row=ROW rep=N what=...       a process that failed
#   B side=S what=...                     a build that failed
#   M key=value                           about the run (_ for spaces)
# Each figure is the median over a row's processes (each reports its own
# median); counts (failed updates, wrong calls, deaths) are summed.

function add(s, id, k, x,    c) {
	c = ++n[s, id, k]
	val[s, id, k, c] = x
}

# Median of the values of (s, id, k); "" when there are none.
function med(s, id, k,    c, i, j, t, a) {
	c = n[s, id, k]
	if (!c)
		return ""
	for (i = 1; i <= c; i++)
		a[i] = val[s, id, k, i] + 0
	for (i = 2; i <= c; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}

function ext(s, id, k, want_max,    c, i, x, m) {
	c = n[s, id, k]
	for (i = 1; i <= c; i++) {
		x = val[s, id, k, i] + 0
		if (i == 1 || (want_max ? x > m : x < m))
			m = x
	}
	return c ? m : ""
}

function sum(s, id, k,    c, i, t) {
	c = n[s, id, k]
	t = 0
	for (i = 1; i <= c; i++)
		t += val[s, id, k, i]
	return t
}

# The first nonzero value (an error code, named when known), or 0.
function first(s, id, k,    c, i, e) {
	c = n[s, id, k]
	for (i = 1; i <= c; i++)
		if (val[s, id, k, i] + 0) {
			e = val[s, id, k, i] + 0
			return e (errname[e] ? " " errname[e] : "")
		}
	return 0
}

function runs(s, id) { return n[s, id, "id"] + 0 }

function us(x) {
	if (x == "")
		return "n/a"
	if (x >= 10000)
		return sprintf("%.1f ms", x / 1000)
	if (x >= 1000)
		return sprintf("%.2f ms", x / 1000)
	if (x >= 100)
		return sprintf("%.0f us", x)
	return sprintf("%.1f us", x)
}

function times(x) {
	if (x == "")
		return "n/a"
	return x >= 100 ? sprintf("x%.0f", x) : x >= 10 ? sprintf("x%.1f", x) : sprintf("x%.2f", x)
}

function num(x, f) { return x == "" ? "n/a" : sprintf(f, x) }

# Spread of a figure over its processes: "min-max".
function spread(s, id, k, f) {
	if (!n[s, id, k])
		return ""
	return sprintf(f "-" f, ext(s, id, k, 0), ext(s, id, k, 1))
}

function ratio(a, b) { return a == "" || b == "" || b == 0 ? "" : a / b }

function failed_note(s, id,    f, e) {
	f = sum(s, id, "fails")
	e = first(s, id, "err")
	return f ? sprintf(" (%d failed: %s)", f, e) : ""
}

function met(ok) { return ok == "" ? "n/a" : ok ? "yes" : "no" }

{
	if ($1 == "M") {
		split($2, kv, "=")
		v = kv[2]
		gsub(/_/, " ", v)
		meta[kv[1]] = v
		next
	}
	delete f
	for (i = 2; i <= NF; i++) {
		p = index($i, "=")
		f[substr($i, 1, p - 1)] = substr($i, p + 1)
	}
	s = f["side"]
	if ($1 == "B") {
		build[s] = build[s] " " f["what"]
	} else if ($1 == "E") {
		errors[s]++
		rowerr[s, f["row"]]++
	} else if ($1 == "R") {
		id = f["id"]
		for (k in f)
			if (k != "side" && k != "rep")
				add(s, id, k, f[k])
	}
}

# ---- tables --------------------------------------------------------------

function lat_table(    sites, busy, id, a, b) {
	print "### Update beside the floor (three bare membarrier SYNC_CORE rounds, same threads running)"
	print ""
	print "| sites | busy | today | today floor | today / floor | new | new floor | new / floor | new / today |"
	print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	split("1 100 10000", sz, " ")
	for (i = 1; i <= 3; i++)
		for (busy = 0; busy <= 2; busy++) {
			id = "lat." sz[i] "." busy
			a = med("today", id, "upd_us")
			b = med("new", id, "upd_us")
			printf "| %s | %d | %s%s | %s | %s | %s%s | %s | %s | %s |\n", sz[i], busy,
			       us(a), failed_note("today", id), us(med("today", id, "floor_us")),
			       times(med("today", id, "ratio")), us(b), failed_note("new", id),
			       us(med("new", id, "floor_us")), times(med("new", id, "ratio")),
			       times(ratio(b, a))
		}
	print ""
}

function growth_row(id, what,    a, b) {
	a = med("today", id, "upd_us")
	b = med("new", id, "upd_us")
	printf "| %s | %s | %s%s | %s | %s | %s%s | %s | %s |\n", what,
	       num(med("today", id, "maps"), "%d") " / " num(med("new", id, "maps"), "%d"),
	       us(a), failed_note("today", id), times(med("today", id, "rel")),
	       us(med("today", id, "floor_us")), us(b), failed_note("new", id),
	       times(med("new", id, "rel")), us(med("new", id, "floor_us"))
}

function growth_table() {
	print "### Growth: the 1-site update, no busy thread (x: over the same process's figure with nothing added)"
	print ""
	print "| process holds | mappings (today / new) | today | today x | today floor | new | new x | new floor |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	growth_row("threads.0", "no other thread")
	growth_row("threads.1", "1 idle thread")
	growth_row("threads.10", "10 idle threads")
	growth_row("threads.100", "100 idle threads")
	growth_row("threads.1000", "1,000 idle threads")
	growth_row("threads.exited", "after the 1,000 exited")
	growth_row("maps.0", "(fresh process) no extra mapping")
	growth_row("maps.100", "100 extra mappings")
	growth_row("maps.10000", "10,000 extra mappings")
	print ""
	print "Idle threads block in read() on a pipe, with 64 KiB stacks (glibc keeps up to 40 MiB of"
	print "exited threads' stacks mapped); extra mappings are anonymous pages with alternating protections."
	print ""
}

function side_xray(s) {
	return sprintf("%s vs %s (unpatch %s): %s", us(med(s, "xray", "upd_us")),
		       us(med(s, "xray", "patch_us")), us(med(s, "xray", "unpatch_us")),
		       times(med(s, "xray", "ratio")))
}

function other_tables(    s, id, m, nm, i) {
	print "### LLVM XRay in the same process (clang build, no other thread)"
	print ""
	print "| | today | new |"
	print "| --- | ---: | ---: |"
	printf "| static_call_update(), 10,000 inline sites | %s%s | %s%s |\n",
	       us(med("today", "xray", "upd_us")), failed_note("today", "xray"),
	       us(med("new", "xray", "upd_us")), failed_note("new", "xray")
	printf "| __xray_patch(), %s sleds | %s | %s |\n", num(med("new", "xray", "sleds"), "%d"),
	       us(med("today", "xray", "patch_us")), us(med("new", "xray", "patch_us"))
	printf "| __xray_unpatch() | %s | %s |\n", us(med("today", "xray", "unpatch_us")),
	       us(med("new", "xray", "unpatch_us"))
	printf "| update / __xray_patch (per process, median; spread) | %s (%s) | %s (%s) |\n",
	       times(med("today", "xray", "ratio")), spread("today", "xray", "ratio", "%.1f"),
	       times(med("new", "xray", "ratio")), spread("new", "xray", "ratio", "%.1f")
	printf "| the floor | %s | %s |\n", us(med("today", "xray", "floor_us")),
	       us(med("new", "xray", "floor_us"))
	print ""
	print "### Throughput 2 busy threads keep running 100 sites, updates at 1,000/s"
	print ""
	print "Kept: each updating window's call rate over its quiet neighbours'. Over wall time (the issue's"
	print "measure) it includes the CPU the updater takes from the busy threads, and on a loaded machine"
	print "the CPU other processes take; per CPU-second the busy threads got, it leaves only what updates"
	print "cost inside them (traps, cross-core interrupts, caches), which other load does not move much."
	print ""
	print "| | today | new |"
	print "| --- | ---: | ---: |"
	printf "| kept (median; spread over processes) | %s %% (%s) | %s %% (%s) |\n",
	       num(med("today", "tput", "kept_pct"), "%.1f"), spread("today", "tput", "kept_pct", "%.0f"),
	       num(med("new", "tput", "kept_pct"), "%.1f"), spread("new", "tput", "kept_pct", "%.0f")
	printf "| kept per CPU-second the busy threads got (median; spread) | %s %% (%s) | %s %% (%s) |\n",
	       num(med("today", "tput", "kept_cpu_pct"), "%.1f"), spread("today", "tput", "kept_cpu_pct", "%.0f"),
	       num(med("new", "tput", "kept_cpu_pct"), "%.1f"), spread("new", "tput", "kept_cpu_pct", "%.0f")
	printf "| the updater's CPU while updating (%% of one CPU) | %s | %s |\n",
	       num(med("today", "tput", "updater_cpu_pct"), "%.1f"), num(med("new", "tput", "updater_cpu_pct"), "%.1f")
	printf "| quiet rate (Mcalls/s, both threads) | %s | %s |\n",
	       num(med("today", "tput", "quiet_mcalls"), "%.0f"), num(med("new", "tput", "quiet_mcalls"), "%.0f")
	printf "| one update while they run | %s%s | %s%s |\n", us(med("today", "tput", "upd_us")),
	       failed_note("today", "tput"), us(med("new", "tput", "upd_us")), failed_note("new", "tput")
	printf "| wrong calls | %d | %d |\n", sum("today", "tput", "wrong"), sum("new", "tput", "wrong")
	print ""
	print "### W+X: polls of /proc/self/maps from another thread during back-to-back 10,000-site updates"
	print ""
	print "| | today | new |"
	print "| --- | ---: | ---: |"
	printf "| polls that saw a writable and executable mapping | %s | %s |\n", wx("today"), wx("new")
	printf "| the same before the first update (not the library's) | %d of %d | %d of %d |\n",
	       sum("today", "wx", "base_hits"), sum("today", "wx", "base_polls"),
	       sum("new", "wx", "base_hits"), sum("new", "wx", "base_polls")
	printf "| updates (time each) | %d (%s)%s | %d (%s)%s |\n", sum("today", "wx", "updates"),
	       us(med("today", "wx", "upd_us")), failed_note("today", "wx"), sum("new", "wx", "updates"),
	       us(med("new", "wx", "upd_us")), failed_note("new", "wx")
	print ""
	print "### The sigwait server (all signals blocked in every thread, one sigwait thread, 2 workers calling)"
	print ""
	print "| | today | new |"
	print "| --- | ---: | ---: |"
	printf "| static_call_update() that returned 0 | %s | %s |\n", sigok("today"), sigok("new")
	printf "| wrong calls (workers' sums; target after a returned update) | %d; %d | %d; %d |\n",
	       sum("today", "sigwait", "wrong_calls"), sum("today", "sigwait", "wrong_target"),
	       sum("new", "sigwait", "wrong_calls"), sum("new", "sigwait", "wrong_target")
	printf "| processes that died / ran | %d / %d | %d / %d |\n",
	       sum("today", "sigwait", "died"), runs("today", "sigwait"),
	       sum("new", "sigwait", "died"), runs("new", "sigwait")
	printf "| static key flips that returned 0 | %d of %d | %d of %d |\n",
	       sum("today", "sigwait", "flips_ok"), sum("today", "sigwait", "flips"),
	       sum("new", "sigwait", "flips_ok"), sum("new", "sigwait", "flips")
	printf "| signals the sigwait thread took (21 sent per run; pending SIGHUPs merge) | %d | %d |\n",
	       sum("today", "sigwait", "signals"), sum("new", "sigwait", "signals")
	print ""
	print "### Copies of the library in one process (each copy: 50 sites, 200 updates per run, 1 thread running all)"
	print ""
	print "| setup | today: updates ok per copy | today wrong / died | new: updates ok per copy | new wrong / died |"
	print "| --- | --- | ---: | --- | ---: |"
	nm = split("two_a two_ax versions so_a a_so so_so", m, " ")
	for (i = 1; i <= nm; i++)
		printf "| %s | %s | %d / %d | %s | %d / %d |\n", copies_name[m[i]],
		       copies_ok("today", "copies." m[i]), sum("today", "copies." m[i], "wrong"),
		       sum("today", "copies." m[i], "died"), copies_ok("new", "copies." m[i]),
		       sum("new", "copies." m[i], "wrong"), sum("new", "copies." m[i], "died")
	print ""
}

function wx(s) {
	if (!runs(s, "wx"))
		return "n/a"
	return sprintf("%.1f %% (%d of %d)", 100 * sum(s, "wx", "hits") / (sum(s, "wx", "polls") + !sum(s, "wx", "polls")),
		       sum(s, "wx", "hits"), sum(s, "wx", "polls"))
}

function sigok(s,    e) {
	if (!runs(s, "sigwait"))
		return "n/a"
	e = first(s, "sigwait", "err")
	return sprintf("%d of %d%s", sum(s, "sigwait", "ok"), sum(s, "sigwait", "updates"),
		       e ? " (the others: " e ")" : "")
}

# "copy 0: 0/1000 (-35), copy 1: 1000/1000"
function copies_ok(s, id,    c, i, out, ok, fl, e) {
	if (!runs(s, id))
		return "n/a"
	if (sum(s, id, "loaded") < runs(s, id))
		return sprintf("not loaded in %d runs", runs(s, id) - sum(s, id, "loaded"))
	c = med(s, id, "copies")
	out = ""
	for (i = 0; i < c; i++) {
		ok = sum(s, id, "ok" i)
		fl = sum(s, id, "fail" i)
		e = first(s, id, "err" i)
		out = out (i ? ", " : "") sprintf("%s %d/%d", copy_name[substr(id, 8), i], ok, ok + fl) (e ? " (" e ")" : "")
	}
	return out
}

function copies_all_ok(s,    m, nm, i, id) {
	nm = split("two_a two_ax versions so_a a_so", m, " ")
	for (i = 1; i <= nm; i++) {
		id = "copies." m[i]
		if (!runs(s, id))
			return ""
		if (sum(s, id, "fail") || sum(s, id, "wrong") || sum(s, id, "died") ||
		    sum(s, id, "loaded") < runs(s, id) || !complete(s, id))
			return 0
	}
	return 1
}

# Why a setup is not all right, in a few words.
function copies_why(s, id,    w) {
	if (!runs(s, id))
		return "no result"
	if (sum(s, id, "loaded") < runs(s, id))
		return "not loaded"
	w = complete(s, id) ? "" : "processes failed"
	if (sum(s, id, "fail"))
		w = w (w ? ", " : "") sum(s, id, "fail") " updates failed (" first(s, id, "err") ")"
	if (sum(s, id, "wrong"))
		w = w (w ? ", " : "") sum(s, id, "wrong") " wrong calls"
	if (sum(s, id, "died"))
		w = w (w ? ", " : "") sum(s, id, "died") " deaths"
	return w
}

function copies_summary(s,    m, nm, i, id, good, bad) {
	nm = split("two_a two_ax versions so_a a_so", m, " ")
	good = 0
	bad = ""
	for (i = 1; i <= nm; i++) {
		id = "copies." m[i]
		if (runs(s, id) && !sum(s, id, "fail") && !sum(s, id, "wrong") && !sum(s, id, "died") &&
		    sum(s, id, "loaded") == runs(s, id) && complete(s, id))
			good++
		else
			bad = bad (bad ? "; " : "") m[i] ": " copies_why(s, id)
	}
	return sprintf("every update works in %d of %d setups%s", good, nm, bad ? " (" bad ")" : "")
}

function summary(    a, b, x, y, ok) {
	print "### The issue's table"
	print ""
	print "| what | today | new | goal | met? |"
	print "| --- | --- | --- | --- | --- |"
	a = sigwait_cell("today")
	b = sigwait_cell("new")
	ok = runs("new", "sigwait") ? !sum("new", "sigwait", "fail") && !sum("new", "sigwait", "wrong") &&
	     !sum("new", "sigwait", "died") && complete("new", "sigwait") : ""
	printf "| the sigwait server pattern (2,000 updates while workers call) | %s | %s | every update succeeds, 0 wrong calls, 0 deaths | %s |\n", a, b, met(ok)
	printf "| two shared objects that each link libustatic.a, or a static copy beside libustatic.so | %s | %s | every update in every copy works; copies of different versions cooperate | %s |\n",
	       copies_summary("today"), copies_summary("new"), met(copies_all_ok("new"))
	x = med("today", "lat.1.0", "ratio")
	y = med("new", "lat.1.0", "ratio")
	printf "| one update, 1 site, no other thread vs three bare membarrier SYNC_CORE rounds | %s vs %s: %s | %s vs %s: %s | <= 2x the floor | %s |\n",
	       us(med("today", "lat.1.0", "upd_us")), us(med("today", "lat.1.0", "floor_us")), times(x),
	       us(med("new", "lat.1.0", "upd_us")), us(med("new", "lat.1.0", "floor_us")), times(y),
	       met(y == "" ? "" : y <= 2)
	y = med("new", "threads.1000", "rel")
	printf "| the same update with 1,000 idle threads in the process | %s (%s) | %s (%s) | <= 1.1x the no-thread figure | %s |\n",
	       us(med("today", "threads.1000", "upd_us")), times(med("today", "threads.1000", "rel")),
	       us(med("new", "threads.1000", "upd_us")), times(y), met(y == "" ? "" : y <= 1.1)
	x = med("new", "threads.exited", "rel")
	y = med("new", "maps.10000", "rel")
	printf "| the same update after those threads exited; with 10,000 extra mappings | %s (%s); %s (%s) | %s (%s); %s (%s) | independent of the number of mappings (<= 1.1x) | %s |\n",
	       us(med("today", "threads.exited", "upd_us")), times(med("today", "threads.exited", "rel")),
	       us(med("today", "maps.10000", "upd_us")), times(med("today", "maps.10000", "rel")),
	       us(med("new", "threads.exited", "upd_us")), times(x),
	       us(med("new", "maps.10000", "upd_us")), times(y),
	       met(x == "" || y == "" ? "" : x <= 1.1 && y <= 1.1)
	y = med("new", "xray", "ratio")
	printf "| 10,000 sites, no busy thread, vs LLVM XRay's __xray_patch of 10,000 sleds | %s | %s | <= 2x XRay | %s |\n",
	       side_xray("today"), side_xray("new"), met(y == "" ? "" : y <= 2)
	printf "| busy threads' throughput while updates run at 1,000/s | %s | %s | >= 97 %% | %s |\n",
	       tput_cell("today"), tput_cell("new"), tput_met("new")
	printf "| code pages writable and executable at once (polls during 10,000-site updates) | %s | %s | never | %s |\n",
	       wx("today"), wx("new"), met(runs("new", "wx") ? !sum("new", "wx", "hits") && complete("new", "wx") : "")
	print ""
}

function tput_cell(s) {
	if (!runs(s, "tput"))
		return "n/a"
	return sprintf("%.1f %% (processes: %s %%); per busy CPU-second %s %%",
		       med(s, "tput", "kept_pct"), spread(s, "tput", "kept_pct", "%.0f"),
		       num(med(s, "tput", "kept_cpu_pct"), "%.1f"))
}

# On the wall-time median, unless the processes' spread straddles the goal.
function tput_met(s,    y, lo, hi) {
	if (!runs(s, "tput"))
		return "n/a"
	y = med(s, "tput", "kept_pct")
	lo = ext(s, "tput", "kept_pct", 0)
	hi = ext(s, "tput", "kept_pct", 1)
	if (lo < 97 && hi >= 97)
		return sprintf("unclear: %s (processes %.0f-%.0f %%, machine load)", y >= 97 ? "yes" : "no", lo, hi)
	return met(y >= 97)
}

# Every process of the row reported, none failed.
function complete(s, id) {
	return runs(s, id) == meta["reps"] && !((s, id) in rowerr)
}

function sigwait_cell(s,    e) {
	if (!runs(s, "sigwait"))
		return "n/a"
	e = first(s, "sigwait", "err")
	return sprintf("%d of %d updates ok%s in %d runs, %d wrong calls, %d deaths; key flips %d of %d ok",
		       sum(s, "sigwait", "ok"), sum(s, "sigwait", "updates"), e ? " (" e ")" : "",
		       runs(s, "sigwait"),
		       sum(s, "sigwait", "wrong"), sum(s, "sigwait", "died"),
		       sum(s, "sigwait", "flips_ok"), sum(s, "sigwait", "flips"))
}

BEGIN {
	split("-1 EPERM -5 EIO -11 EAGAIN -12 ENOMEM -13 EACCES -14 EFAULT " \
	      "-16 EBUSY -22 EINVAL -35 EDEADLK -38 ENOSYS -95 EOPNOTSUPP", en, " ")
	for (i = 1; i < 22; i += 2)
		errname[en[i] + 0] = en[i + 1]
}

END {
	copies_name["two_a"] = "2 plugins, each linked with libustatic.a"
	copies_name["two_ax"] = "2 plugins, libustatic.a + --exclude-libs,ALL"
	copies_name["versions"] = "2 plugins (.a, --exclude-libs) of the two builds: this side's first, the other's second"
	copies_name["so_a"] = "host on libustatic.so + a plugin with libustatic.a (--exclude-libs)"
	copies_name["a_so"] = "host with libustatic.a (static) + a plugin on libustatic.so"
	copies_name["so_so"] = "control: host and plugin both on libustatic.so (one copy)"
	split("two_a two_ax versions", m, " ")
	for (i in m) {
		copy_name[m[i], 0] = "plugin 1"
		copy_name[m[i], 1] = "plugin 2"
	}
	split("so_a a_so so_so", m, " ")
	for (i in m) {
		copy_name[m[i], 0] = "host"
		copy_name[m[i], 1] = "plugin"
	}

	printf "## Today vs new: %s processes per row and build, alternating\n\n", meta["reps"]
	printf "- today: %s\n- new: %s\n", meta["today"], meta["new"]
	printf "- machine: %s, %s CPUs, kernel %s\n", meta["cpu"], meta["cpus"], meta["kernel"]
	printf "- load average at start %s, at end %s; build %s s, runs %s s\n\n", meta["load_start"],
	       meta["load_end"], meta["build_s"], meta["run_s"]
	for (s in errors)
		printf "**%s: %d processes failed** (%s)\n", s, errors[s], "see results.txt E lines and " s ".stderr"
	for (s in build)
		printf "**%s: build failed:%s** (see %s.build.log)\n", s, build[s], s
	print ""
	summary()
	lat_table()
	growth_table()
	other_tables()
	for (k in rowerr) {
		split(k, rk, SUBSEP)
		printf "errors: %s %s: %d of its processes failed\n", rk[1], rk[2], rowerr[k]
	}
	printf "errors: today %d, new %d\n", errors["today"], errors["new"]
}
