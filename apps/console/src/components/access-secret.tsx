import { useEffect, useId, useRef } from 'react';
import { CopyButton } from './copy-button';

/**
 * A secret the engine shows once (a new API key, a new client's secret): a warning, the value
 * with a copy button, an example command, and a button that forgets it.
 */
export function AccessSecret({
  title,
  secretLabel,
  secret,
  details = [],
  example,
  onDone,
}: {
  title: string;
  secretLabel: string;
  secret: string;
  details?: ReadonlyArray<{ label: string; value: string }>;
  example?: { label: string; command: string };
  onDone: () => void;
}) {
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section className="access-secret" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} ref={heading} tabIndex={-1}>
        {title}
      </h2>
      <p className="access-warning">
        <strong>Copy it now: it is shown only once.</strong> The engine keeps only a hash of it; if it is
        lost, create a new one and revoke this one.
      </p>
      <dl className="access-details">
        {details.map((d) => (
          <div key={d.label}>
            <dt>{d.label}</dt>
            <dd>
              <code>{d.value}</code>
            </dd>
          </div>
        ))}
        <div>
          <dt id={`${id}-s`}>{secretLabel}</dt>
          <dd>
            <code className="access-secret-value" aria-labelledby={`${id}-s`} data-secret="">
              {secret}
            </code>{' '}
            <CopyButton text={secret} label={`Copy ${secretLabel.toLowerCase()}`} />
          </dd>
        </div>
      </dl>
      {example ? (
        <>
          <p id={`${id}-e`}>{example.label}</p>
          <pre aria-labelledby={`${id}-e`}>
            <code>{example.command}</code>
          </pre>
          <CopyButton text={example.command} label="Copy the command" />
        </>
      ) : null}
      <p>
        <button type="button" className="primary" onClick={onDone}>
          I have copied it
        </button>
      </p>
    </section>
  );
}
