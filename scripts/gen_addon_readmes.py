"""Build each addon's README.md and static/description/index.html from its manifest
and its readme/ fragments.

    python scripts/gen_addon_readmes.py           # write the files
    python scripts/gen_addon_readmes.py --check   # fail if one is out of date

The fragments (readme/DESCRIPTION.md, CONFIGURE.md, USAGE.md, …) are the source; the
README.md and the index.html (shown by Odoo's Apps screen) are generated and must not be
edited by hand.
"""

import ast
import html
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


def render_html(addon_dir):
    """The Apps description: the same text, as preformatted Markdown sections."""
    markdown = render(addon_dir).split("\n", 1)[1]
    return (
        "<!-- Generated from readme/*.md by scripts/gen_addon_readmes.py -->\n"
        '<section class="oe_container">\n'
        '<pre style="white-space: pre-wrap; font-family: inherit">'
        f"{html.escape(markdown)}</pre>\n"
        "</section>\n"
    )


def main(argv):
    check = "--check" in argv
    stale = []
    for addon_dir in sorted((ROOT / "addons").iterdir()):
        if not (addon_dir / "__manifest__.py").exists():
            continue
        outputs = {
            addon_dir / "README.md": render(addon_dir),
            addon_dir / "static" / "description" / "index.html": render_html(addon_dir),
        }
        for target, text in outputs.items():
            if target.exists() and target.read_text() == text:
                continue
            if check:
                stale.append(str(target.relative_to(ROOT)))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
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
