import { useEffect, useState } from 'react';

/** Puts `text` on the clipboard: the Clipboard API, else the selection copied the old way. */
async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Refused (no permission, page not focused): try the selection below.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'copy-scratch';
  document.body.appendChild(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand('copy');
  } catch {
    done = false;
  } finally {
    area.remove();
  }
  return done;
}

/**
 * A button that copies `text`, and says whether it did (announced to screen readers). `label`
 * names what is copied, e.g. "Copy the key".
 */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [said, setSaid] = useState<'copied' | 'failed' | undefined>();
  useEffect(() => {
    if (!said) return;
    const t = setTimeout(() => setSaid(undefined), 4000);
    return () => clearTimeout(t);
  }, [said]);
  return (
    <span className="copy-button">
      <button
        type="button"
        onClick={() => void copyText(text).then((ok) => setSaid(ok ? 'copied' : 'failed'))}
      >
        {label}
      </button>
      <span className="copy-status" role="status" aria-live="polite">
        {said === 'copied'
          ? 'Copied.'
          : said === 'failed'
            ? 'Could not copy: select the text and copy it.'
            : ''}
      </span>
    </span>
  );
}
