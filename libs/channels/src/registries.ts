import { DESTINATIONS, SOURCES } from '@sinew/connectors';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import { compileChannel, type ChannelRegistries, type CompiledChannel } from './compile';
import type { ChannelEnvironment } from './env';
import { ChannelError, hasErrors } from './problem';

/** Sinew's connectors and the transformers of `dirs` (the built-in ones first). */
export function builtInRegistries(
  transformers: TransformerLibrary | readonly string[] = [],
): ChannelRegistries {
  return {
    sources: SOURCES,
    destinations: DESTINATIONS,
    transformers:
      transformers instanceof TransformerLibrary
        ? transformers
        : TransformerLibrary.load([BUILT_IN_TRANSFORMERS, ...transformers]),
  };
}

/** Compiles one channel's text or throws ChannelError with its findings (tests, tools). */
export function compileChannelOrThrow(
  text: string,
  file: string,
  registries: ChannelRegistries,
  env: ChannelEnvironment = { values: {}, strict: true },
): CompiledChannel {
  const r = compileChannel(text, file, registries, { env });
  if (!r.channel || hasErrors(r.problems)) throw new ChannelError(r.problems);
  return r.channel;
}
