import { useId } from 'react';
import { describeScope, ingestScope, SCOPES } from './access-scopes';

/** A channel as the pickers offer it (from `GET /api/v1/channels`). */
export interface ChannelChoice {
  id: string;
  source?: { type: string };
}

function toggle(list: readonly string[], item: string, on: boolean): string[] {
  const rest = list.filter((x) => x !== item);
  return on ? [...rest, item] : rest;
}

/**
 * The scopes to grant, each a checkbox with what it allows; then `ingest:<channel>` for each
 * channel (sending to its HTTP source).
 */
export function ScopePicker({
  value,
  onChange,
  channels,
  legend = 'Scopes',
}: {
  value: readonly string[];
  onChange: (scopes: string[]) => void;
  channels: readonly ChannelChoice[];
  legend?: string;
}) {
  const base = useId();
  const row = (scope: string, note?: string) => {
    const id = `${base}-${scope.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    return (
      <li key={scope}>
        <input
          type="checkbox"
          id={id}
          checked={value.includes(scope)}
          onChange={(e) => onChange(toggle(value, scope, e.target.checked))}
          aria-describedby={`${id}-d`}
        />
        <label htmlFor={id} className="mono">
          {scope}
        </label>
        <span id={`${id}-d`} className="scope-description muted">
          {describeScope(scope)}
          {note ? ` (${note})` : ''}
        </span>
      </li>
    );
  };
  return (
    <fieldset className="scope-picker">
      <legend>{legend}</legend>
      <ul>{SCOPES.map((s) => row(s))}</ul>
      {channels.length > 0 ? (
        <>
          <p className="scope-group">Sending to a channel over HTTP</p>
          <ul>
            {channels.map((c) =>
              row(
                ingestScope(c.id),
                c.source && c.source.type !== 'http' ? `its source is ${c.source.type}, not HTTP` : undefined,
              ),
            )}
          </ul>
        </>
      ) : null}
    </fieldset>
  );
}

/** Channels to restrict a credential to; none chosen: every channel. */
export function ChannelRestriction({
  value,
  onChange,
  channels,
}: {
  value: readonly string[];
  onChange: (channels: string[]) => void;
  channels: readonly ChannelChoice[];
}) {
  const base = useId();
  if (channels.length === 0) return null;
  return (
    <fieldset className="channel-restriction">
      <legend>Restrict to channels</legend>
      <p className="muted">None chosen: every channel, including channels deployed later.</p>
      <ul>
        {channels.map((c) => {
          const id = `${base}-${c.id}`;
          return (
            <li key={c.id}>
              <input
                type="checkbox"
                id={id}
                checked={value.includes(c.id)}
                onChange={(e) => onChange(toggle(value, c.id, e.target.checked))}
              />
              <label htmlFor={id} className="mono">
                {c.id}
              </label>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
