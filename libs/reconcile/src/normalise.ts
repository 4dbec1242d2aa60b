import { zonedTime } from './period';
import type { DateFormat, FieldConfig, Normaliser } from './schema';
import type { RawValue } from './types';

/** A value as compared: text, or null for "no value" (null, empty, or empty after normalising). */
export type Normalised = string | null;

/** No character below U+00C0 has a canonical decomposition or is a combining mark. */
const NOTHING_TO_STRIP = /^[\u0000-\u00bf]*$/;

const NORMALISER_FNS: Record<Normaliser, (s: string) => string> = {
  trim: (s) => s.trim(),
  upper: (s) => s.toUpperCase(),
  lower: (s) => s.toLowerCase(),
  collapse_spaces: (s) => s.replace(/\s+/g, ' '),
  digits: (s) => s.replace(/\D+/g, ''),
  strip_accents: (s) => (NOTHING_TO_STRIP.test(s) ? s : s.normalize('NFD').replace(/\p{M}+/gu, '')),
};

/** The text of a raw value (`true`, `12.5`), or null. */
function text(v: RawValue | undefined): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v);
}

/** The normalisers in order, as one function on text. */
export function compileNormalisers(list: readonly Normaliser[]): (s: string) => string {
  const fns = list.map((n) => NORMALISER_FNS[n]);
  if (fns.length === 0) return (s) => s;
  if (fns.length === 1) return fns[0] as (s: string) => string;
  return (s) => {
    let out = s;
    for (const f of fns) out = f(out);
    return out;
  };
}

/** An identity value as matched: the identity normalisers applied; empty stays empty. */
export function compileIdentity(list: readonly Normaliser[]): (key: string) => string {
  const norm = compileNormalisers(list);
  return (key) => norm(key);
}

interface Day {
  y: number;
  m: number;
  d: number;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDay(y: number, m: number, d: number): Day | undefined {
  if (m < 1 || m > 12 || d < 1) return undefined;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (MONTH_DAYS[m - 1] as number) + (leap ? 1 : 0)) return undefined;
  return { y, m, d };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const dayText = (d: Day) => `${pad(d.y, 4)}-${pad(d.m)}-${pad(d.d)}`;

interface Stamp extends Day {
  hh: number;
  mi: number;
  ss: number;
  ms: number;
  /** Minutes east of UTC, when the text gives an offset. */
  offset: number | undefined;
  /** Whether the text holds a time of day. */
  time: boolean;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const HL7 = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/;
const SLASHED = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const DIGITS8 = /^(\d{4})(\d{2})(\d{2})$/;

function offsetMinutes(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (text.toUpperCase() === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(text);
  if (!m) return undefined;
  const mins = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return m[1] === '-' ? -mins : mins;
}

function fraction(text: string | undefined): number {
  return text === undefined ? 0 : Math.round(Number(`0.${text}`) * 1000);
}

function stamp(
  day: Day | undefined,
  hh: string | undefined,
  mi: string | undefined,
  ss: string | undefined,
  frac: string | undefined,
  off: string | undefined,
): Stamp | undefined {
  if (!day) return undefined;
  const h = Number(hh ?? 0);
  const min = Number(mi ?? 0);
  const s = Number(ss ?? 0);
  if (h > 23 || min > 59 || s > 60) return undefined;
  const offset = offsetMinutes(off);
  if (off !== undefined && offset === undefined) return undefined;
  return {
    y: day.y,
    m: day.m,
    d: day.d,
    hh: h,
    mi: min,
    ss: Math.min(s, 59),
    ms: fraction(frac),
    offset,
    time: hh !== undefined,
  };
}

const digit = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
};

/** The number written by `count` digits at `at`, or -1. */
function digits(s: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = digit(s, i);
    if (d < 0) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The common shapes of a date read without a regular expression: `YYYY-MM-DD`, `MM/DD/YYYY`,
 * `DD/MM/YYYY`, `YYYYMMDD` (each only where `format` accepts it), as `YYYY-MM-DD`; undefined
 * for anything else (then `parseStamp` decides), including an impossible day.
 */
function quickDay(s: string, format: DateFormat): string | undefined {
  if (s.length === 10) {
    if (s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) {
      if (format !== 'auto' && format !== 'ISO' && format !== 'YYYY-MM-DD') return undefined;
      const y = digits(s, 0, 4);
      const m = digits(s, 5, 2);
      const d = digits(s, 8, 2);
      return y >= 0 && m >= 0 && d >= 0 && validDay(y, m, d) ? s : undefined;
    }
    if (s.charCodeAt(2) === 47 && s.charCodeAt(5) === 47) {
      if (format !== 'MM/DD/YYYY' && format !== 'DD/MM/YYYY') return undefined;
      const a = digits(s, 0, 2);
      const b = digits(s, 3, 2);
      const y = digits(s, 6, 4);
      if (a < 0 || b < 0 || y < 0) return undefined;
      const monthFirst = format === 'MM/DD/YYYY';
      if (!validDay(y, monthFirst ? a : b, monthFirst ? b : a)) return undefined;
      const mm = s.slice(monthFirst ? 0 : 3, monthFirst ? 2 : 5);
      const dd = s.slice(monthFirst ? 3 : 0, monthFirst ? 5 : 2);
      return `${s.slice(6)}-${mm}-${dd}`;
    }
    return undefined;
  }
  if (s.length === 8 && (format === 'auto' || format === 'HL7' || format === 'YYYYMMDD')) {
    const y = digits(s, 0, 4);
    const m = digits(s, 4, 2);
    const d = digits(s, 6, 2);
    if (y < 0 || m < 0 || d < 0 || !validDay(y, m, d)) return undefined;
    return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6)}`;
  }
  return undefined;
}

/** Reads a date or date-time written in `format`; undefined when it is not one. */
export function parseStamp(value: string, format: DateFormat): Stamp | undefined {
  const v = value.trim();
  const iso = (): Stamp | undefined => {
    const m = ISO.exec(v);
    if (!m) return undefined;
    return stamp(validDay(Number(m[1]), Number(m[2]), Number(m[3])), m[4], m[5], m[6], m[7], m[8]);
  };
  const hl7 = (): Stamp | undefined => {
    const m = HL7.exec(v);
    if (!m) return undefined;
    return stamp(validDay(Number(m[1]), Number(m[2]), Number(m[3])), m[4], m[5], m[6], m[7], m[8]);
  };
  const slashed = (monthFirst: boolean): Stamp | undefined => {
    const m = SLASHED.exec(v);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = Number(m[2]);
    return stamp(
      validDay(Number(m[3]), monthFirst ? a : b, monthFirst ? b : a),
      m[4],
      m[5],
      m[6],
      undefined,
      undefined,
    );
  };
  switch (format) {
    case 'auto':
      return iso() ?? hl7();
    case 'ISO':
      return iso();
    case 'HL7':
      return hl7();
    case 'YYYY-MM-DD': {
      const s = iso();
      return s && !s.time ? s : undefined;
    }
    case 'YYYYMMDD': {
      const m = DIGITS8.exec(v);
      return m
        ? stamp(
            validDay(Number(m[1]), Number(m[2]), Number(m[3])),
            undefined,
            undefined,
            undefined,
            undefined,
            undefined,
          )
        : undefined;
    }
    case 'MM/DD/YYYY':
      return slashed(true);
    case 'DD/MM/YYYY':
      return slashed(false);
  }
}

/** The UTC instant of a stamp; one without an offset is a local time in `timezone`. */
function instant(s: Stamp, timezone: string): number {
  if (s.offset !== undefined) return Date.UTC(s.y, s.m - 1, s.d, s.hh, s.mi, s.ss, s.ms) - s.offset * 60_000;
  return zonedTime(s.y, s.m, s.d, s.hh, s.mi, s.ss, s.ms, timezone);
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const GROUPED = /^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

/** A number written plainly (`1234.5`, `-3`, `1e3`) or with thousands commas (`1,234.50`). */
export function parseNumber(value: string): number | undefined {
  const v = value.trim();
  const plain = NUMBER.test(v) ? v : GROUPED.test(v) ? v.replace(/,/g, '') : undefined;
  if (plain === undefined) return undefined;
  const n = Number(plain);
  return Number.isFinite(n) ? n : undefined;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** One compared field, compiled: each side's value as compared, and whether two are equal. */
export interface CompiledField {
  name: string;
  /** The source value as compared (normalisers, code map, type). Never throws. */
  source(v: RawValue | undefined): Normalised;
  /** The target value as compared. Never throws. */
  target(v: RawValue | undefined): Normalised;
  /** Equal as the field compares them (tolerances included). */
  equals(a: Normalised, b: Normalised): boolean;
  /** Why a side's value was compared as plain text (not a date, time or number of the declared format), if it was. */
  note(side: 'source' | 'target', v: RawValue | undefined): string | undefined;
}

/**
 * Compiles a field: text normalisers first, then (source side) the code map, whose result is
 * normalised like the target's; then the type: `number` → a plain number, `date` → YYYY-MM-DD,
 * `datetime` → a UTC instant (ISO 8601, milliseconds). A value that does not read as its type is
 * compared as its trimmed text, and `note` says so.
 */
export function compileField(field: FieldConfig): CompiledField {
  const norm = compileNormalisers(field.normalise);
  const map = field.map ? new Map(Object.entries(field.map)) : undefined;
  const tolerance = field.tolerance ?? 0;

  const typed = (s: string, format: DateFormat): string => {
    switch (field.type) {
      case 'string':
        return s;
      case 'number': {
        const n = parseNumber(s);
        return n === undefined ? s.trim() : String(n === 0 ? 0 : n);
      }
      case 'date': {
        const quick = quickDay(s, format);
        if (quick !== undefined) return quick;
        const st = parseStamp(s, format);
        return st ? dayText(st) : s.trim();
      }
      case 'datetime': {
        const st = parseStamp(s, format);
        return st ? new Date(instant(st, field.timezone)).toISOString() : s.trim();
      }
    }
  };
  const parses = (s: string, format: DateFormat): boolean => {
    if (field.type === 'number') return parseNumber(s) !== undefined;
    if (field.type === 'date' || field.type === 'datetime') return parseStamp(s, format) !== undefined;
    return true;
  };
  const source = (v: RawValue | undefined): Normalised => {
    if (field.type === 'number' && typeof v === 'number' && !map)
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : String(v);
    const t = text(v);
    if (t === null) return null;
    let s = norm(t);
    if (map) {
      const mapped = map.get(s);
      if (mapped !== undefined) s = norm(mapped);
    }
    if (s === '') return null;
    return typed(s, field.sourceFormat);
  };
  const target = (v: RawValue | undefined): Normalised => {
    if (field.type === 'number' && typeof v === 'number')
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : String(v);
    const t = text(v);
    if (t === null) return null;
    const s = norm(t);
    return s === '' ? null : typed(s, field.targetFormat);
  };
  let equals: CompiledField['equals'] = (a, b) => a === b;
  if (field.type === 'number' && tolerance > 0)
    equals = (a, b) => {
      if (a === b) return true;
      if (a === null || b === null) return false;
      const x = parseNumber(a);
      const y = parseNumber(b);
      if (x === undefined || y === undefined) return false;
      // A tolerance of 0.01 holds 10.00 against 10.01 despite binary fractions.
      return Math.abs(x - y) <= tolerance + 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
    };
  else if (field.type === 'datetime' && tolerance > 0)
    equals = (a, b) => {
      if (a === b) return true;
      if (a === null || b === null || !ISO_INSTANT.test(a) || !ISO_INSTANT.test(b)) return false;
      return Math.abs(Date.parse(a) - Date.parse(b)) <= tolerance;
    };
  const note: CompiledField['note'] = (side, v) => {
    if (field.type === 'string') return undefined;
    const t = text(v);
    if (t === null) return undefined;
    let s = norm(t);
    if (side === 'source' && map) {
      const mapped = map.get(s);
      if (mapped !== undefined) s = norm(mapped);
    }
    if (s === '') return undefined;
    const format = side === 'source' ? field.sourceFormat : field.targetFormat;
    if (typeof v === 'number' && field.type === 'number') return undefined;
    if (parses(s, format)) return undefined;
    const what =
      field.type === 'number'
        ? 'a number'
        : `a ${field.type === 'date' ? 'date' : 'date-time'}${format === 'auto' ? '' : ` in ${format}`}`;
    return `the ${side} value is not ${what}: compared as text`;
  };
  return { name: field.name, source, target, equals, note };
}
