// Python requirement specifiers, checked before anything reaches pip.
// Accepted: a subset of PEP 508 — a project name, optional extras and optional version constraints, e.g.
// `numpy`, `pandas==1.3.0`, `requests[socks]>=2.25,<3`, `kuksa-client~=0.4`. Refused: everything else — pip options
// (`--index-url`), URLs and VCS links (`git+https://…`, `name @ url`), paths (`./pkg`, `/tmp/x.whl`), archive file
// names (`x-1.0-py3-none-any.whl`), environment markers (`; python_version…`) and any shell character. pip is then
// given the specifier rebuilt from the parsed parts, never the client's text, so what pip sees is exactly what was
// validated.

export interface Requirement {
  /** The project name as written (pip normalises case and separators itself). */
  readonly name: string;
  readonly extras: readonly string[];
  /** Each constraint as `<op><version>`, e.g. `>=2.25`. */
  readonly specifiers: readonly string[];
  /** The canonical text handed to pip: name[extra,…]spec,spec */
  readonly text: string;
}

export class RequirementError extends Error {
  override name = 'RequirementError';
  constructor(readonly requirement: string, reason: string) {
    super(`requirement ${JSON.stringify(requirement.length > 80 ? requirement.slice(0, 80) + '…' : requirement)} refused: ${reason}`);
  }
}

/** Bounds: one line of a requirements file is rarely longer than this; an install of more is a script, not a request. */
export const MAX_REQUIREMENT_LENGTH = 200;
export const MAX_REQUIREMENTS = 50;

// PEP 508 names: letters and digits, with ".", "_" or "-" inside, starting and ending with a letter or digit.
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
// PEP 440 comparison operators, longest first so `===` is not read as `==` + `=`.
const OPERATORS = ['===', '~=', '==', '!=', '<=', '>=', '<', '>'] as const;
// Version text: PEP 440 characters plus `*` for prefix matching (`==1.0.*`), `+` for local versions, `!` for epochs.
const VERSION = /^[A-Za-z0-9](?:[A-Za-z0-9.*+!_-]*[A-Za-z0-9*])?$/;

// pip reads a requirement that ends like an archive (`name-1.0-py3-none-any.whl`, `pkg.tar.gz`) as a file name in its
// working folder, not as a project on the index.
const ARCHIVE = /\.(whl|zip|tar|tgz|tbz|txz|tlz|tar\.gz|tar\.bz2|tar\.xz|tar\.lz|tar\.lzma|egg)$/i;

function refuseReason(text: string): string | null {
  if (ARCHIVE.test(text.replace(/[[,<>=!~].*$/, ''))) return 'archive file names (.whl, .tar.gz, .zip …) are not accepted, only package names from the index';
  if (text.startsWith('-')) return 'pip options are not accepted, only package names with optional [extras] and version constraints';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^[a-z]+\+[a-z]+:/i.test(text)) return 'URLs are not accepted, only package names from the index';
  if (text.includes('@')) return 'direct references (name @ url) are not accepted';
  if (text.startsWith('.') || text.startsWith('/') || text.startsWith('~') || text.includes('/') || text.includes('\\')) return 'paths are not accepted, only package names';
  if (text.includes(';')) return 'environment markers and ";" are not accepted';
  // Whitelist of every character a name, extras and constraints can use; quotes, $, `, |, &, (, ), spaces… fail here.
  if (!/^[A-Za-z0-9._\-[\],<>=!~*+]+$/.test(text)) {
    return 'contains a character that is not allowed in a requirement (only letters, digits, . _ - [ ] , and version operators)';
  }
  return null;
}

/** Parses one specifier; throws RequirementError naming it and saying why. */
export function parseRequirement(raw: string): Requirement {
  if (typeof raw !== 'string') throw new RequirementError(String(raw), 'expected a string');
  const text = raw.trim();
  if (text === '') throw new RequirementError(raw, 'empty');
  if (text.length > MAX_REQUIREMENT_LENGTH) throw new RequirementError(text, `longer than ${MAX_REQUIREMENT_LENGTH} characters`);
  const early = refuseReason(text);
  if (early) throw new RequirementError(text, early);

  // name
  const nameMatch = /^[A-Za-z0-9._-]+/.exec(text);
  if (!nameMatch) throw new RequirementError(text, 'expected a package name first');
  const name = nameMatch[0];
  if (!NAME.test(name)) throw new RequirementError(text, 'a package name starts and ends with a letter or digit');
  let rest = text.slice(name.length);

  // [extras]
  const extras: string[] = [];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new RequirementError(text, 'unclosed "[" of the extras');
    const inner = rest.slice(1, close);
    for (const e of inner.split(',')) {
      if (!NAME.test(e)) throw new RequirementError(text, `extra ${JSON.stringify(e)} is not a valid name`);
      extras.push(e);
    }
    rest = rest.slice(close + 1);
  }

  // version constraints: op version (, op version)*
  const specifiers: string[] = [];
  if (rest !== '') {
    for (const part of rest.split(',')) {
      const op = OPERATORS.find((o) => part.startsWith(o));
      if (!op) throw new RequirementError(text, `expected a version constraint such as ==1.0 or >=2, got ${JSON.stringify(part.slice(0, 20))}`);
      const version = part.slice(op.length);
      if (!VERSION.test(version)) throw new RequirementError(text, `version ${JSON.stringify(version.slice(0, 40))} is not a valid version`);
      if (version.includes('*') && !((op === '==' || op === '!=') && /^[^*]*\.\*$/.test(version))) {
        throw new RequirementError(text, '"*" is only allowed as a trailing ".*" with == or !=');
      }
      specifiers.push(op + version);
    }
  }
  const canonical = name + (extras.length ? `[${extras.join(',')}]` : '') + specifiers.join(',');
  return { name, extras, specifiers, text: canonical };
}

/**
 * Parses the client's list: a string of specifiers separated by whitespace (the Kit-Manager shape
 * `"pkg1 pkg2==1.0"`), or an array of specifier strings. The first bad one throws, naming it.
 */
export function parseRequirements(input: unknown): Requirement[] {
  let items: string[];
  if (typeof input === 'string') items = input.split(/\s+/).filter((s) => s !== '');
  else if (Array.isArray(input)) {
    items = [];
    for (const v of input) {
      if (typeof v !== 'string') throw new RequirementError(JSON.stringify(v) ?? String(v), 'expected a string');
      items.push(v.trim());
    }
  } else throw new RequirementError(JSON.stringify(input) ?? String(input), 'expected a string of package names separated by spaces, or an array of strings');
  if (items.length === 0) throw new RequirementError('', 'no package named; expected e.g. "numpy pandas==1.3.0"');
  if (items.length > MAX_REQUIREMENTS) throw new RequirementError(items.slice(0, 3).join(' ') + ' …', `more than ${MAX_REQUIREMENTS} packages in one install`);
  return items.map(parseRequirement);
}
