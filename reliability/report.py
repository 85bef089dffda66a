"""Renders the JSON of ./faults --json and ./soak --json as the Markdown tables of RELIABILITY.md.
Usage: python3 reliability/report.py FAULTS.json [SOAK.json]"""

import json
import sys

LOST_KEYS = ("bystander client", "outcomes", "datagrams")


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def faults_table(data):
    out = [f"Fault suite run at commit `{data['commit']}`, {data['date']} (scale {data['scale']}).", "",
           "| case | load | result | leaked (descriptors, threads, children) | lost or corrupted | reproduce |",
           "|---|---|---|---|---|---|"]
    for r in data["results"]:
        f = r["figures"]
        leak = "none" if r["passed"] or not any("leaked" in x for x in r["failures"]) else \
            "; ".join(x for x in r["failures"] if "leaked" in x)
        if "descriptors" not in f and r["case"] != "SIGTERM under load":
            leak = "not measured (the case stopped early)"
        if r["case"] == "SIGTERM under load":
            leak = f"{f.get('processes left running', '?')} processes left after exit"
        lost = []
        if "bystander client" in f:
            lost.append("bystander: " + f["bystander client"])
        if r["case"] == "SIGTERM under load":
            lost.append(f"{f.get('round trips before the end', '?')} round trips, 0 corrupted"
                        if not any("corrupted" in x for x in r["failures"]) else "corrupted echoes")
        result = "**pass**" if r["passed"] else "**FAIL**: " + "; ".join(x[:300] for x in r["failures"])
        out.append(f"| {cell(r['case'])} ({cell(r['variant'])}) | {cell(r.get('load', ''))} | {cell(result)} | "
                   f"{cell(leak)} | {cell('; '.join(lost) or 'nothing')} | `./faults {r.get('key', '')}` |")
    out += ["", "Figures per case:", ""]
    for r in data["results"]:
        out.append(f"- **{r['case']} ({r['variant']})**, {r.get('seconds', '?')} s: "
                   + "; ".join(f"{k}: {v}" for k, v in r["figures"].items()))
    return "\n".join(out)


def soak_table(s):
    counts = s["counts"]
    out = [f"Soak at commit `{s['commit']}`, {s['date']}, {s['minutes']:g} minutes: `{s['server']}`.", "",
           "| load or fault | outcomes |", "|---|---|"]
    for kind, d in sorted(counts.items()):
        out.append(f"| {kind} | " + ", ".join(f"{o}: {v:,}" for o, v in sorted(d.items())) + " |")
    out.append("")
    out.append(f"Echoes intact {s['intact']:,}, lost {s['lost']:,}, corrupted {s['corrupted']:,}; stalled "
               f"clients not cut {s['not_cut']}; exit status on SIGTERM {s['exit_status']}.")
    smp = s["samples"]
    if smp:
        at1 = next((x for x in smp if x["t"] >= 60), smp[0])
        out.append(f"RSS: {at1['rss_mb']} MB at {at1['t']} s, max {max(x['rss_mb'] for x in smp if x['t'] >= at1['t'])}"
                   f" MB after it (+{s.get('rss_growth_after_1min_mb')}), {smp[-1]['rss_mb']} MB at the end "
                   f"({s.get('rss_end_minus_1min_mb'):+} MB); descriptors {at1['fds']} -> {smp[-1]['fds']}, "
                   f"threads {at1['threads']} -> {smp[-1]['threads']}.")
        out.append("")
        out.append("RSS every 10 s (MB): " + ", ".join(f"{x['rss_mb']:.0f}" for x in smp))
    return "\n".join(out)


def main():
    with open(sys.argv[1]) as f:
        print(faults_table(json.load(f)))
    if len(sys.argv) > 2:
        print()
        with open(sys.argv[2]) as f:
            print(soak_table(json.load(f)))


if __name__ == "__main__":
    main()
