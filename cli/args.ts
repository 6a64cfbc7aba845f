/** Command-line flag parsing with user-facing errors (no stack traces for user mistakes). */
export class UsageError extends Error {}

export type Flags = Map<string, string | true>;

export function parseFlags(argv: string[]): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}" (flags look like --name value)`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  return flags;
}

export class FlagReader {
  private readonly used = new Set<string>();
  constructor(private readonly flags: Flags) {}

  string(name: string, fallback?: string): string {
    this.used.add(name);
    const v = this.flags.get(name);
    if (v === undefined) {
      if (fallback === undefined) throw new UsageError(`--${name} is required`);
      return fallback;
    }
    if (v === true) throw new UsageError(`--${name} needs a value`);
    return v;
  }

  optional(name: string): string | undefined {
    return this.flags.has(name) ? this.string(name) : (this.used.add(name), undefined);
  }

  number(name: string, fallback?: number): number {
    const raw = this.string(name, fallback === undefined ? undefined : String(fallback));
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
    return v;
  }

  int(name: string, fallback?: number): number {
    const v = this.number(name, fallback);
    if (!Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got ${v}`);
    return v;
  }

  bool(name: string): boolean {
    this.used.add(name);
    const v = this.flags.get(name);
    if (v === undefined) return false;
    if (v === true || v === 'true') return true;
    if (v === 'false') return false;
    throw new UsageError(`--${name} is a switch (true/false), got "${v}"`);
  }

  /** One of a fixed set of words, e.g. --schedule cosine|constant. */
  choice<T extends string>(name: string, options: readonly T[], fallback: T): T {
    const v = this.string(name, fallback);
    const hit = options.find((o) => o === v);
    if (hit === undefined) throw new UsageError(`--${name} must be ${options.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got "${v}"`);
    return hit;
  }

  /** Whether the flag was given at all (marks it as known). */
  has(name: string): boolean {
    this.used.add(name);
    return this.flags.has(name);
  }

  list(name: string, fallback: string): string[] {
    return this.string(name, fallback).split(',').map((s) => s.trim()).filter((s) => s !== '');
  }

  /** Throws on any flag the command does not know, naming it. */
  done(): void {
    const unknown = [...this.flags.keys()].filter((k) => !this.used.has(k));
    if (unknown.length > 0) throw new UsageError(`unknown flag --${unknown[0]}`);
  }
}
