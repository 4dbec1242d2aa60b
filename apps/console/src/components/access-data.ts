import { useQuery } from '@tanstack/react-query';
import { api } from '../lib/api';
import type { ChannelChoice } from './scope-picker';

/** The deployed channels (for ingest scopes and channel restrictions); empty until known. */
export function useChannelChoices(): { channels: ChannelChoice[]; error: unknown } {
  const q = useQuery({
    queryKey: ['channels', 'choices'],
    queryFn: () => api<{ items: ChannelChoice[] }>('/api/v1/channels'),
    staleTime: 60_000,
  });
  return { channels: q.data?.items.map((c) => ({ id: c.id, source: c.source })) ?? [], error: q.error };
}
