#!/usr/bin/env bash
# The repository stands alone: a clone holds everything its files refer to.
#  - no file refers to a document outside the repository: a sibling directory (../shared), the
#    old names of the design notes (DESIGN.md, "DESIGN §n", STYLE.md), a design.md other than
#    docs/design.md, an issue tracker's numbers, or a path of a developer's machine;
#  - every "docs/design.md §n" cited anywhere names a section that docs/design.md has;
#  - every repository path docs/design.md and README.md mention exists.
# Prints each offending reference as file:line and fails if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
self=tests/test_standalone.sh

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files | grep -v -x -F "$self")
else
  mapfile -t files < <(find . -type f -not -path './.git/*' -not -path './build*' \
                         -not -path './results/*' | sed 's|^\./||' | grep -v -x -F "$self")
fi
# Text files only (grep -I skips binary ones such as bench/scaling.png).
bad=0
report() { echo "$1"; bad=$((bad + 1)); }

# Each pattern is assembled from pieces so that this script does not match itself in a search.
sec='§'
patterns=(
  '\.\./shared'
  "DESIGN ${sec}"
  'DESIGN\.md'
  'STYLE\.md'
  '(^|[^/a-z_])design\.md'
  '[Ii]ssues? #?[0-9]+'
  '/work/'
)
for p in "${patterns[@]}"; do
  while IFS= read -r hit; do
    report "outside reference: $hit"
  done < <(grep -n -I -E "$p" -- "${files[@]}" 2>/dev/null | grep -v -E '^docs/design\.md:[0-9]+:' )
done
# docs/design.md may name itself only as docs/design.md, like everyone else.
while IFS= read -r hit; do
  report "outside reference: docs/design.md:$hit"
done < <(grep -n -E '(^|[^/a-z_])design\.md' docs/design.md | grep -v -E 'docs/design\.md')

# Cited sections exist.
mapfile -t sections < <(grep -E '^#{2,3} [0-9]+(\.[0-9]+)?\.? ' docs/design.md | sed -E 's/^#+ ([0-9]+(\.[0-9]+)?)\.? .*/\1/')
has_section() { local s; for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
while IFS= read -r hit; do
  loc=${hit%%:docs/design.md*}
  # every §n of the citation up to the closing parenthesis or sentence ("§3, §9.1", "§8; §1")
  for n in $(echo "${hit#*docs/design.md}" | grep -oE "^[^a-z(]*" | grep -oE "${sec}[0-9]+(\.[0-9]+)?" | tr -d "${sec}"); do
    has_section "$n" || report "no section $n in docs/design.md: $loc"
  done
done < <(grep -n -I -o -E "docs/design\.md ${sec}[0-9].{0,30}" -- "${files[@]}" 2>/dev/null)
# Sections cited inside docs/design.md itself.
for n in $(grep -oE "${sec}[0-9]+(\.[0-9]+)?" docs/design.md | tr -d "${sec}" | sort -u); do
  has_section "$n" || report "no section $n in docs/design.md (cited in docs/design.md)"
done
[ "${#sections[@]}" -ge 10 ] || report "docs/design.md: expected numbered sections, found ${#sections[@]}"

# Paths that docs/design.md and README.md mention exist (globs allowed; bare file names skipped).
for doc in docs/design.md README.md; do
  while IFS= read -r ref; do
    path=${ref%/}
    # shellcheck disable=SC2206
    matches=($path)
    [ -e "${matches[0]}" ] || report "$doc mentions $ref, which the repository does not have"
  done < <(grep -oE '`(src|sql|tests|bench|docs|expected)/[^` ]*`' "$doc" | tr -d '`' | sort -u)
done

if [ "$bad" -gt 0 ]; then
  echo "FAILED: $bad reference(s) outside the repository or to nothing"
  exit 1
fi
echo "ok: ${#files[@]} files refer only to the repository; docs/design.md has ${#sections[@]} numbered sections"
