import { useEffect, useId, useRef, type FormEvent, type ReactNode } from 'react';

/**
 * A modal form (the native <dialog>): its fields, an error from the engine, and a submit
 * button; Escape or Cancel closes it. `busy` disables the buttons while the request runs.
 */
export function AccessDialog({
  open,
  title,
  submitLabel,
  onSubmit,
  onCancel,
  busy = false,
  error,
  danger = false,
  children,
}: {
  open: boolean;
  title: string;
  submitLabel: string;
  onSubmit: () => void;
  onCancel: () => void;
  busy?: boolean;
  error?: string | undefined;
  danger?: boolean;
  children?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  function submit(e: FormEvent) {
    e.preventDefault();
    onSubmit();
  }
  return (
    <dialog
      ref={ref}
      aria-labelledby={`${id}-t`}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      {open ? (
        <form onSubmit={submit} className="access-form">
          <h2 id={`${id}-t`}>{title}</h2>
          <div className="dialog-body">{children}</div>
          {error ? (
            <p className="error" role="alert">
              {error}
            </p>
          ) : null}
          <div className="dialog-actions">
            <button type="button" onClick={onCancel} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy}>
              {submitLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
