/** What became of each Mirth element: the content of IMPORT-REPORT.md. */

export type Outcome = 'exact' | 'approximate' | 'not_converted';

export interface ReportItem {
  outcome: Outcome;
  /** Where the element sits in the Mirth export: `sourceConnector/properties/port`. */
  path: string;
  /** What it is, for people: `TCP Listener port`, `Mapper step "mrn"`. */
  what: string;
  /** How it converted, or why it did not. */
  note: string;
  /** JavaScript or other text kept as written in Mirth. */
  verbatim?: string;
}

/** Collects the report items of one channel (or one file), under a common path prefix. */
export class Notes {
  constructor(
    private readonly prefix = '',
    /** Shared by a collector and the ones `under` gives. */
    readonly items: ReportItem[] = [],
  ) {}

  /** Notes for a sub-element: their paths start with this one's prefix and `segment`. */
  under(segment: string): Notes {
    return new Notes(this.join(segment), this.items);
  }

  exact(path: string, what: string, note: string): void {
    this.items.push({ outcome: 'exact', path: this.join(path), what, note });
  }
  approximate(path: string, what: string, note: string, verbatim?: string): void {
    this.items.push({
      outcome: 'approximate',
      path: this.join(path),
      what,
      note,
      ...(verbatim !== undefined ? { verbatim } : {}),
    });
  }
  notConverted(path: string, what: string, note: string, verbatim?: string): void {
    this.items.push({
      outcome: 'not_converted',
      path: this.join(path),
      what,
      note,
      ...(verbatim !== undefined ? { verbatim } : {}),
    });
  }

  private join(path: string): string {
    if (!this.prefix) return path;
    return path ? `${this.prefix}/${path}` : this.prefix;
  }
}

export interface ChannelReport {
  /** The export file the channel came from. */
  file: string;
  mirthName: string;
  mirthId: string;
  mirthVersion: string;
  /** The Sinew channel id written. */
  sinewId: string;
  /** Files written for this channel, relative to the working folder. */
  written: string[];
  items: ReportItem[];
}

/** Elements outside channels: code templates, global scripts, the configuration map, alerts. */
export interface OtherReport {
  file: string;
  title: string;
  items: ReportItem[];
}

export interface ImportReport {
  channels: ChannelReport[];
  other: OtherReport[];
}

const HEADINGS: Record<Outcome, string> = {
  exact: 'Converted exactly',
  approximate: 'Converted approximately',
  not_converted: 'Not converted',
};

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function fence(text: string): string {
  let ticks = '```';
  while (text.includes(ticks)) ticks += '`';
  return `${ticks}js\n${text}\n${ticks}`;
}

function section(items: readonly ReportItem[], out: string[]): void {
  for (const outcome of ['exact', 'approximate', 'not_converted'] as const) {
    const these = items.filter((i) => i.outcome === outcome);
    out.push(`#### ${HEADINGS[outcome]} (${these.length})`, '');
    if (these.length === 0) {
      out.push('None.', '');
      continue;
    }
    out.push('| Mirth element | what | how / why |', '| --- | --- | --- |');
    for (const i of these) out.push(`| \`${cell(i.path)}\` | ${cell(i.what)} | ${cell(i.note)} |`);
    out.push('');
    for (const i of these.filter((x) => x.verbatim !== undefined)) {
      out.push(`<details><summary><code>${i.path}</code> as written in Mirth</summary>`, '');
      out.push(fence(i.verbatim ?? ''), '', '</details>', '');
    }
  }
}

/** How many elements of the whole import (channels and the rest) had each outcome. */
export function reportCounts(report: ImportReport): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { exact: 0, approximate: 0, not_converted: 0 };
  for (const part of [...report.channels, ...report.other]) for (const i of part.items) counts[i.outcome]++;
  return counts;
}

/** IMPORT-REPORT.md: per channel, what converted exactly, approximately, and not (path + reason). */
export function renderReport(report: ImportReport): string {
  const out: string[] = ['# Mirth import report', ''];
  const counts = reportCounts(report);
  const count = (o: Outcome) => counts[o];
  out.push(
    `${report.channels.length} channel(s) imported: ${count('exact')} element(s) converted exactly, ` +
      `${count('approximate')} approximately, ${count('not_converted')} not converted.`,
    '',
    'Every element of the exports that carries configuration or code is listed below. ' +
      '"Not converted" elements need a person: their Mirth path and the reason are given, and ' +
      'JavaScript is kept as written. Secrets found in the exports (passwords) were not copied: ' +
      'the channel files name environment variables instead.',
    '',
  );
  if (report.channels.length) {
    out.push('| Mirth channel | file | Sinew channel | exact | approximate | not converted |');
    out.push('| --- | --- | --- | --- | --- | --- |');
    for (const c of report.channels) {
      const n = (o: Outcome) => c.items.filter((i) => i.outcome === o).length;
      out.push(
        `| ${cell(c.mirthName)} | \`${cell(c.file)}\` | \`${c.sinewId}\` | ${n('exact')} | ${n('approximate')} | ${n('not_converted')} |`,
      );
    }
    out.push('');
  }
  for (const c of report.channels) {
    out.push(`## Channel "${c.mirthName}" → \`${c.sinewId}\``, '');
    out.push(`From \`${c.file}\` (Mirth id \`${c.mirthId}\`, version ${c.mirthVersion || 'unknown'}).`, '');
    if (c.written.length) out.push(`Written: ${c.written.map((w) => `\`${w}\``).join(', ')}.`, '');
    section(c.items, out);
  }
  for (const o of report.other) {
    out.push(`## ${o.title}`, '', `From \`${o.file}\`.`, '');
    section(o.items, out);
  }
  return `${out.join('\n').trimEnd()}\n`;
}
