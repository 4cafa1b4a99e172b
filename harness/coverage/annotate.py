"""A kernel source file annotated with the rule sites the scenarios reach.

Each line of the file is shown with a mark: ``+`` a rule site reached (by
which scenarios), ``!`` a site not reached, ``x`` a site no program can
reach (why), blank for a line the model has no rule for.  Text and HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from harness.coverage.collect import Coverage
from harness.coverage.sites import Kind, Site, of_file
from harness.errors import UsageError
from harness.model.profiles import get_profile

SHOW_NAMES = 4  # scenarios named per line; the rest counted


@dataclass(frozen=True)
class FileSummary:
    file: str
    sites: int  # sites of this file the profile can reach (its switches decide the branch sites)
    reached: int
    reachable: int  # of those, not excused as unreachable
    errors: int
    errors_reached: int
    other_profiles: int  # branch sites only other profiles reach

    def line(self) -> str:
        other = f"; {self.other_profiles} only under other profiles or arches" if self.other_profiles else ""
        errs = f"; error() sites {self.errors_reached} of {self.errors}" if self.errors else ""
        return (f"{self.file}: {self.reached} of {self.sites} rule sites reached"
                f" ({self.reachable} reachable{errs}{other})")


def applicable(file: str, profile: str, arch: str = "") -> tuple[list[Site], int]:
    """FILE's sites PROFILE on ARCH can reach, and how many it cannot (other profiles' or arches')."""
    try:
        prof = get_profile(profile)
    except UsageError:  # a simulated kernel's derived profile: every site counts
        return of_file(file), 0
    sites = of_file(file)
    mine = [s for s in sites if s.applies(prof, arch)]
    return mine, len(sites) - len(mine)


def summarise(file: str, cov: Coverage) -> FileSummary:
    sites, other = applicable(file, cov.profile, cov.arch)
    got = cov.reached()
    errs = [s for s in sites if s.kind is Kind.ERROR]
    return FileSummary(file, len(sites), sum(s.id in got for s in sites), sum(s.reachable for s in sites),
                       len(errs), sum(s.id in got for s in errs), other)


def _mark(site: Site, cov: Coverage) -> tuple[str, str]:
    who = sorted(set(cov.hits.get(site.id, [])))
    if who:
        more = f" +{len(who) - SHOW_NAMES} more" if len(who) > SHOW_NAMES else ""
        return "+", f"{site.kind.value} reached by {len(who)}: {', '.join(who[:SHOW_NAMES])}{more}"
    if not site.reachable:
        return "x", f"{site.kind.value} unreachable: {site.what}"
    if site not in applicable(site.file, cov.profile, cov.arch)[0]:
        return "-", f"{site.kind.value} not for {cov.arch} {cov.profile} (switch {site.switch or '-'}, arch {site.arch or 'any'})"
    return "!", f"{site.kind.value} NOT reached: {site.what}"


def _by_line(file: str, commit: str) -> dict[int, list[Site]]:
    out: dict[int, list[Site]] = {}
    for s in of_file(file):
        if s.commit == commit:
            out.setdefault(s.line, []).append(s)
    return out


def other_commit_sites(file: str, commit: str) -> list[Site]:
    """Sites of FILE at another commit than the annotated one (listed after the source)."""
    return [s for s in of_file(file) if s.commit != commit]


def text(file: str, source: str, commit: str, cov: Coverage) -> str:
    by_line = _by_line(file, commit)
    out = [f"# {file} at {commit}: rule sites of the model, {cov.arch} {cov.profile}, {cov.runs} programs",
           "# + reached (by which), ! not reached, x unreachable, - another profile's or arch's", ""]
    for n, src in enumerate(source.splitlines(), 1):
        sites = by_line.get(n, [])
        mark = sites and _mark(sites[0], cov)
        out.append(f"{mark[0] if mark else ' '} {n:5d}  {src}" + (f"    <- {mark[1]}" if mark else ""))
    extra = other_commit_sites(file, commit)
    if extra:
        out += ["", f"# sites at later commits (profile switches) of {file}:"]
        for s in extra:
            m, what = _mark(s, cov)
            out.append(f"{m} {s.id}: {s.what}: {what}")
    out += ["", summarise(file, cov).line()]
    return "\n".join(out) + "\n"


_CSS = """body{font-family:sans-serif;margin:1em}pre{margin:0}table{border-collapse:collapse;font-family:monospace;font-size:12px}
td{padding:0 6px;white-space:pre;vertical-align:top}tr.hit{background:#dfd}tr.miss{background:#fdd}tr.dead{background:#eee}
td.n{color:#888;text-align:right}td.who{color:#333;white-space:normal;max-width:40em}"""


def html_page(file: str, source: str, commit: str, cov: Coverage) -> str:
    by_line = _by_line(file, commit)
    summary = summarise(file, cov)
    rows = []
    cls = {"+": "hit", "!": "miss", "x": "dead", "-": "dead"}
    for n, src in enumerate(source.splitlines(), 1):
        sites = by_line.get(n, [])
        if sites:
            m, what = _mark(sites[0], cov)
            rows.append(f'<tr class="{cls[m]}" id="L{n}"><td class="n">{n}</td><td>{html.escape(src)}</td>'
                        f'<td class="who">{html.escape(what)}</td></tr>')
        else:
            rows.append(f'<tr id="L{n}"><td class="n">{n}</td><td>{html.escape(src)}</td><td></td></tr>')
    extra = "".join(f"<li>{html.escape(s.id)}: {html.escape(s.what)}: {html.escape(_mark(s, cov)[1])}</li>"
                    for s in other_commit_sites(file, commit))
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(file)} coverage</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(file)} at {html.escape(commit)}</h1>"
            f"<p>{html.escape(summary.line())}; model {html.escape(cov.arch)} {html.escape(cov.profile)},"
            f" {cov.runs} programs.</p><table>{''.join(rows)}</table>"
            + (f"<h2>Sites at later commits</h2><ul>{extra}</ul>" if extra else "") + "</body></html>\n")


def sites_only(file: str, cov: Coverage) -> str:
    """FILE's sites and hits when its source is not at hand."""
    out = [f"# {file}: rule sites of the model (source not given: --9front GITDIR annotates it)"]
    for s in of_file(file):
        m, what = _mark(s, cov)
        out.append(f"{m} {s.id}: {s.what}: {what}")
    out += ["", summarise(file, cov).line()]
    return "\n".join(out) + "\n"
