# gdb -batch -x scripts/lib/hot-symbols.py --args BINARY ARGS...
#
# Records, in order of first call, every function of BINARY that runs. Environment:
#   FUNCS  file of "<address, hex> <symbol>" lines (nm), the functions to watch;
#   MODE   "parent": follow the process itself through its re-exec (the re-executed image is
#          the same file); "child": follow it until it forks, then the child (the container
#          init) until its exec of the container's program, where the child is killed;
#   OUT    where to write the symbols, one a line.
# Each function gets a one-shot breakpoint, so a hot loop traps once, not on every call.
import os

import gdb  # pylint: disable=import-error

funcs = {}
with open(os.environ["FUNCS"]) as f:
    for line in f:
        addr, name = line.split(None, 1)
        funcs[int(addr, 16)] = name.strip()
mode = os.environ["MODE"]
for setting in ("pagination off", "confirm off", "breakpoint always-inserted on",
                "follow-fork-mode " + mode, "detach-on-fork on", "follow-exec-mode same"):
    gdb.execute("set " + setting)
gdb.execute("catch exec")
gdb.execute("starti", to_string=True)
for addr in funcs:
    gdb.execute("tbreak *0x%x" % addr, to_string=True)
hits = []
execs = 0
while True:
    try:
        gdb.execute("continue", to_string=True)
    except gdb.error:
        break
    if not gdb.selected_inferior().pid:
        break
    pc = int(gdb.parse_and_eval("$pc"))
    if pc in funcs:
        hits.append(funcs[pc])
        continue
    # The exec catchpoint: the first exec is the runtime's own re-exec (ADR 0006); in child
    # mode the next one is the container's program, which would run into our breakpoints.
    execs += 1
    if mode == "child" and execs >= 2:
        gdb.execute("kill")
        break
with open(os.environ["OUT"], "w") as f:
    f.write("".join(h + "\n" for h in hits))
