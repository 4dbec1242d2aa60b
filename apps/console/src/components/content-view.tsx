import type { ReactNode } from 'react';
import { looksLikeHl7 } from '../lib/hl7';
import { Hl7View } from './hl7-view';
import { JsonView, parseJson } from './json-view';

/** Bytes as the API answers them: text when they are UTF-8, else base64. */
export interface Content {
  encoding: 'utf8' | 'base64';
  data: string;
  bytes: number;
}

/** The text of stored bytes: UTF-8 as sent, else decoded as Latin-1 (and said so). */
export function contentText(c: Content): { text: string; note?: string } {
  if (c.encoding === 'utf8') return { text: c.data };
  const bin = atob(c.data);
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return { text: new TextDecoder('windows-1252').decode(bytes), note: 'Not UTF-8: shown as Latin-1.' };
}

/** Stored bytes shown for what they are: HL7 v2 in the field view, JSON folded, else text. */
export function ContentView({ content, label }: { content: Content; label: string }) {
  const { text, note } = contentText(content);
  let body: ReactNode;
  if (looksLikeHl7(text)) body = <Hl7View text={text} label={label} />;
  else if (parseJson(text) !== undefined) body = <JsonView text={text} label={label} />;
  else
    body = (
      <pre className="content-text" tabIndex={0} aria-label={label}>
        {text}
      </pre>
    );
  return (
    <>
      <p className="muted content-meta">
        {content.bytes} bytes{note ? ` · ${note}` : ''}
      </p>
      {body}
    </>
  );
}
