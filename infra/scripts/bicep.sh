#!/usr/bin/env bash
# Compiles infra/main.bicep to ARM JSON and lints it, with the Bicep CLI restored from NuGet into a cache:
#
#   infra/scripts/bicep.sh [--out FILE]      (npm run infra:build)
#
# The CLI is NuGet's Azure.Bicep.CommandLine.<rid> package (tools/bicep), restored by `dotnet restore` of a
# throwaway project into $BICEP_CACHE_DIR (default .cache/bicep, git-ignored) once, then reused. Any
# warning or error from the compiler or the linter (infra/bicepconfig.json makes every rule an error) fails.
#
# Exit codes: 0 compiled and lint-clean; 1 compile or lint problems; 2 usage; 3 no Bicep CLI and no .NET SDK
# to restore one (the message says how to get it).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
version="${BICEP_VERSION:-0.49.2}"
cache="${BICEP_CACHE_DIR:-$repo/.cache/bicep}"
out="$repo/.cache/infra/main.json"

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--out FILE]" >&2; exit 2 ;;
  esac
done

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) rid=linux-x64 ;;
  Linux-aarch64 | Linux-arm64) rid=linux-arm64 ;;
  Darwin-arm64) rid=osx-arm64 ;;
  Darwin-x86_64) rid=osx-x64 ;;
  *) rid="" ;;
esac

restore_cli() {
  local package="Azure.Bicep.CommandLine.$rid"
  local project="$cache/restore"
  mkdir -p "$project"
  # A project that exists only to make `dotnet restore` download the package; nothing is built.
  cat >"$project/bicep-cli.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>netstandard2.0</TargetFramework>
    <NoWarn>\$(NoWarn);NU1701</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="$package" Version="$version" />
  </ItemGroup>
</Project>
CSPROJ
  echo "== restoring $package $version from NuGet into ${cache#"$repo"/}" >&2
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
    dotnet restore "$project/bicep-cli.csproj" --packages "$cache/packages" --verbosity quiet >&2
}

find_cli() {
  if [ -n "${BICEP_CLI:-}" ]; then
    bicep="$BICEP_CLI"
    return
  fi
  if [ -z "$rid" ]; then
    echo "infra: no Bicep CLI package for $(uname -s)-$(uname -m); set BICEP_CLI to a bicep executable" >&2
    exit 3
  fi
  bicep="$cache/packages/azure.bicep.commandline.$rid/$version/tools/bicep"
  if [ -x "$bicep" ]; then
    return
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    cat >&2 <<MESSAGE
infra: the Bicep CLI is not in $cache and there is no .NET SDK to restore it.
  Install the .NET SDK (https://dot.net, or your distribution's dotnet-sdk package) and run this again,
  or install the Bicep CLI (az bicep install, or https://aka.ms/bicep-install) and set BICEP_CLI to it.
MESSAGE
    exit 3
  fi
  # Concurrent runs (jest workers, two terminals) restore once.
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ ! -f "$bicep" ]; then restore_cli; fi
  if [ ! -f "$bicep" ]; then
    echo "infra: restored the package, but $bicep is not in it" >&2
    exit 1
  fi
  chmod +x "$bicep"
}

find_cli
mkdir -p "$(dirname "$out")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 BICEP_TRACING_ENABLED=false

# The compiler reports linter findings too; `bicep lint` checks again on its own, so a finding the build
# step does not print still fails the run. Either printing any diagnostic is a failure.
status=0
diagnostics="$("$bicep" build "$repo/infra/main.bicep" --outfile "$out" 2>&1)" || status=$?
lint="$("$bicep" lint "$repo/infra/main.bicep" 2>&1)" || status=$?
all="$(printf '%s\n%s\n' "$diagnostics" "$lint" | sed '/^[[:space:]]*$/d' | sort -u)"
if [ -n "$all" ]; then
  printf '%s\n' "$all" >&2
  if grep -qE ': (Warning|Error|Info) ' <<<"$all"; then
    status=1
  fi
fi
if [ "$status" -ne 0 ]; then
  echo "infra: main.bicep has compiler or linter findings (warnings count as errors)" >&2
  rm -f "$out"
  exit 1
fi
echo "infra: compiled and linted infra/main.bicep with Bicep $version -> ${out#"$repo"/}"
