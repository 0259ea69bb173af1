#!/usr/bin/env python3
"""META.json, the PGXN metadata: well formed by the PGXN Meta Spec 1.0.0, and its version in step
with the extension's (the control file's default_version, the Makefile's EXTVERSION) and the
Debian packages' (debian/changelog, debian/pgversions)."""
import json
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
# PGXN Meta Spec 1.0.0: the license shortcuts, the top-level keys and what each prereq phase holds.
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
    "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0",
    "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib",
    "open_source", "restricted", "unrestricted", "unknown",
}
REQUIRED = {"name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"}
OPTIONAL = {"description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def semver(version):
    """A PostgreSQL-style version (1.2) as the SemVer PGXN wants (1.2.0)."""
    parts = version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def satisfies(version, spec):
    """Whether a SemVer version meets a PGXN version range such as '>= 15.0.0, < 16.0.0'."""
    key = lambda v: tuple(int(x) for x in v.split("-")[0].split("."))
    ops = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    if str(spec) == "0":
        return True
    for clause in str(spec).split(","):
        m = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)?\s*(\S+)\s*", clause)
        op, bound = m.group(1) or ">=", m.group(2)
        if not ops[op](key(version), key(bound)):
            return False
    return True


class MetaJson(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.meta = json.loads(read("META.json"))
        cls.control = read("delta_sync.control")
        cls.makefile = read("Makefile")

    def makefile_var(self, name):
        m = re.search(r"^%s\s*=\s*(\S+)\s*$" % name, self.makefile, re.M)
        self.assertIsNotNone(m, "Makefile sets no %s" % name)
        return m.group(1)

    def test_keys_by_the_spec(self):
        keys = set(self.meta)
        self.assertFalse(REQUIRED - keys, "missing required keys")
        unknown = {k for k in keys - REQUIRED - OPTIONAL if not k.lower().startswith("x_")}
        self.assertFalse(unknown, "keys the spec does not know")
        self.assertEqual(self.meta["meta-spec"]["version"], "1.0.0")
        self.assertTrue(self.meta["abstract"].strip())
        self.assertTrue(self.meta["maintainer"])
        self.assertIn(self.meta.get("release_status", "stable"), {"stable", "testing", "unstable"})
        for tag in self.meta.get("tags", []):
            self.assertTrue(0 < len(tag) <= 255, tag)

    def test_license(self):
        lic = self.meta["license"]
        if isinstance(lic, dict):  # {name: URI of its text}
            self.assertTrue(lic)
        else:
            names = [lic] if isinstance(lic, str) else lic
            self.assertTrue(names)
            for name in names:
                self.assertIn(name, LICENSES)

    def test_version_in_step_with_the_extension(self):
        version = self.meta["version"]
        self.assertRegex(version, SEMVER)
        default = re.search(r"^default_version\s*=\s*'([^']+)'", self.control, re.M)
        self.assertIsNotNone(default, "delta_sync.control has no default_version")
        self.assertEqual(version, semver(default.group(1)), "META.json against delta_sync.control")
        self.assertEqual(version, semver(self.makefile_var("EXTVERSION")), "META.json against the Makefile")

    def test_version_in_step_with_the_debian_packages(self):
        first = read("debian/changelog").splitlines()[0]
        m = re.match(r"^delta-sync \(([^)]+)\)", first)
        self.assertIsNotNone(m, first)
        upstream = re.sub(r"-[^-]+$", "", m.group(1).split(":")[-1])
        self.assertEqual(self.meta["version"], upstream, "META.json against debian/changelog")

    def test_provides_the_extension(self):
        name = self.makefile_var("EXTENSION")
        self.assertEqual(self.meta["name"], name)
        provides = self.meta["provides"]
        self.assertIn(name, provides)
        for ext, entry in provides.items():
            self.assertFalse(set(entry) - {"file", "version", "abstract", "docfile"}, ext)
            self.assertEqual(entry["version"], self.meta["version"], ext)
            for key in ("file", "docfile"):
                if key in entry:
                    self.assertFalse(os.path.isabs(entry[key]), entry[key])
                    self.assertTrue(os.path.isfile(os.path.join(ROOT, entry[key])), entry[key])
        comment = re.search(r"^comment\s*=\s*'([^']+)'", self.control, re.M).group(1)
        self.assertEqual(provides[name]["abstract"], comment, "abstract against the control file's comment")

    def test_prereqs_name_the_postgresql_the_packages_are_built_for(self):
        prereqs = self.meta["prereqs"]
        self.assertFalse(set(prereqs) - PHASES)
        for phase in prereqs.values():
            self.assertFalse(set(phase) - RELATIONS)
        spec = prereqs["runtime"]["requires"]["PostgreSQL"]
        majors = [l.strip() for l in read("debian/pgversions").splitlines()
                  if l.strip() and not l.startswith("#")]
        self.assertTrue(majors)
        for major in majors:
            self.assertRegex(major, r"^\d+$", "debian/pgversions: a version, not a range")
            self.assertTrue(satisfies(major + ".0.0", spec), "%s against %s" % (major, spec))
            self.assertTrue(satisfies(major + ".99.0", spec), "%s against %s" % (major, spec))
        self.assertFalse(satisfies("14.99.0", spec), spec)
        self.assertFalse(satisfies("16.0.0", spec), spec)

    def test_names_no_host(self):
        for m in re.finditer(r"\w+://", read("META.json")):
            self.fail("META.json names a host: %s" % m.group(0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
