"""Build each addon's README.md from its manifest and its readme/ fragments.

    python scripts/gen_addon_readmes.py           # write the README.md files
    python scripts/gen_addon_readmes.py --check   # fail if one is out of date

The fragments (readme/DESCRIPTION.md, CONFIGURE.md, USAGE.md, …) are the source; the
README.md of an addon is generated and must not be edited by hand.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = [
    ("CONTEXT", "Context"),
    ("INSTALL", "Installation"),
    ("CONFIGURE", "Configuration"),
    ("USAGE", "Usage"),
    ("ROADMAP", "Known issues / Roadmap"),
]
BANNER = "<!-- Generated from readme/*.md by scripts/gen_addon_readmes.py -->"


def render(addon_dir):
    manifest = ast.literal_eval((addon_dir / "__manifest__.py").read_text())
    readme = addon_dir / "readme"
    parts = [
        BANNER,
        f"# {manifest['name']}",
        f"_{manifest['summary']}_",
        f"Version {manifest['version']} · License {manifest['license']} · "
        f"Status {manifest['development_status']} · Technical name "
        f"`{addon_dir.name}`",
        (readme / "DESCRIPTION.md").read_text().strip(),
    ]
    for fragment, title in SECTIONS:
        path = readme / f"{fragment}.md"
        if path.exists():
            parts += [f"## {title}", path.read_text().strip()]
    parts += ["## Credits", f"Authors: {manifest['author']}."]
    return "\n\n".join(parts) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for addon_dir in sorted((ROOT / "addons").iterdir()):
        if not (addon_dir / "__manifest__.py").exists():
            continue
        target = addon_dir / "README.md"
        text = render(addon_dir)
        if target.exists() and target.read_text() == text:
            continue
        if check:
            stale.append(str(target.relative_to(ROOT)))
        else:
            target.write_text(text)
    if stale:
        sys.stderr.write(
            "Out of date (run python scripts/gen_addon_readmes.py): "
            + ", ".join(stale)
            + "\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
