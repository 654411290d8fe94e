"""A partner added as an agency would: files only, in a folder of its own (manifest,
template, code lists, XSD, a one-line adapter module) and an agreements file naming it,
loaded through EXCHANGE_CONFIG and PYTHONPATH. Built from a shipped XML partner's files,
with its own namespace so it never shadows the original."""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

from exchange.resources import adapters_path, mapping_path, schema_path

XMLDSIG = schema_path("soap", "xmldsig-core-schema.xsd")


@dataclass(frozen=True)
class Kit:
    name: str
    folder: Path
    """mappings and schema of the partner: format.toml, codes.toml, <kind>.xml, <kind>.xsd."""
    module: str
    """The adapter module (on `pythonpath`), unique per kit so import caches never mix kits."""
    pythonpath: Path
    config: Path
    """agreements.toml naming the shipped partners and this one."""

    def file(self, name: str) -> Path:
        return self.folder / name

    def edit(self, name: str, old: str, new: str) -> Path:
        """Replace `old` (which must be there) by `new` in one of the kit's files."""
        path = self.file(name)
        text = path.read_text("utf-8")
        assert old in text, f"{old!r} is not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    def line_of(self, name: str, needle: str) -> int:
        for number, line in enumerate(self.file(name).read_text("utf-8").splitlines(), 1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} is not in {name}")


def make_partner(
    root: Path,
    name: str = "sg",
    *,
    base: str = "nz",
    transport: str = "file",
    with_shipped: bool = True,
    options: dict[str, str] | None = None,
) -> Kit:
    """Partner `name` with `base`'s families, templates and code lists under its own namespace."""
    spec = tomllib.loads(mapping_path(base, "format.toml").read_text("utf-8"))
    folder = root / f"partner-{name}"
    folder.mkdir(parents=True)
    old_ns, new_ns = f"urn:mra-exchange:{base}:", f"urn:mra-exchange:{name}:"
    codes = spec.get("codes", "codes.toml")
    (folder / "codes.toml").write_text(mapping_path(base, codes).read_text("utf-8"), encoding="utf-8")
    manifest = [f'partner = "{name}"', 'codes = "codes.toml"']
    families = sorted(spec["families"])
    for kind in families:
        family = spec["families"][kind]
        template = mapping_path(base, family["template"]).read_text("utf-8")
        (folder / f"{kind}.xml").write_text(template.replace(old_ns, new_ns), encoding="utf-8")
        xsd = schema_path(*family["schema"].split("/")).read_text("utf-8").replace(old_ns, new_ns)
        xsd = re.sub(
            r'schemaLocation="[^"]*xmldsig-core-schema\.xsd"', f'schemaLocation="{XMLDSIG.as_uri()}"', xsd
        )
        (folder / f"{kind}.xsd").write_text(xsd, encoding="utf-8")
        manifest += [f"[families.{kind}]", f'template = "{kind}.xml"', f'schema = "./{kind}.xsd"']
    (folder / "format.toml").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    module = f"kit_{name}_{uuid.uuid4().hex[:8]}"
    pythonpath = root / "pythonpath"
    pythonpath.mkdir(exist_ok=True)
    (pythonpath / f"{module}.py").write_text(
        "from pathlib import Path\n"
        "from exchange.formats.xml import XmlPartnerFormat\n"
        f"format = XmlPartnerFormat.from_manifest({name!r}, Path({str(folder / 'format.toml')!r}))\n",
        encoding="utf-8",
    )
    shipped = adapters_path("agreements.toml").read_text("utf-8") if with_shipped else ""
    if not with_shipped:
        shipped = 'source = "adapters.domestic:source"\ncategories = "domestic/categories.toml"\n'
    entry = [
        f"[partners.{name}]",
        f'name = "Test partner {name}"',
        f'format = "{module}:format"',
        f"families = [{', '.join(repr(k).replace(chr(39), chr(34)) for k in families)}]",
        f'transport = "{transport}"',
    ]
    if options:
        entry.append(f"[partners.{name}.options]")
        entry += [f'{key} = "{value}"' for key, value in options.items()]
    config = root / "agreements.toml"
    config.write_text(shipped + "\n" + "\n".join(entry) + "\n", encoding="utf-8")
    return Kit(name, folder, module, pythonpath, config)
