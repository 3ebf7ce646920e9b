import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

export interface Loaded<T> {
  value: T | null;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/**
 * Loads something for a view while `key` stays the same; a newer load wins over an older one
 * that answers late. `null` as key loads nothing.
 */
export function useLoad<T>(key: string | null, load: () => Promise<T>): Loaded<T> {
  const [state, setState] = useState<{
    key: string | null;
    value: T | null;
    error: unknown;
    loading: boolean;
  }>({
    key: null,
    value: null,
    error: null,
    loading: false,
  });
  const latest = useRef(0);
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });

  const run = useCallback(() => {
    if (key === null) return;
    const ticket = ++latest.current;
    setState((s) => ({
      ...s,
      key,
      loading: true,
      ...(s.key === key ? {} : { value: null, error: null }),
    }));
    loadRef.current().then(
      (value) => {
        if (ticket === latest.current) setState({ key, value, error: null, loading: false });
      },
      (error: unknown) => {
        if (ticket === latest.current) setState({ key, value: null, error, loading: false });
      },
    );
  }, [key]);

  useEffect(() => {
    run();
  }, [run]);

  const current = state.key === key;
  return {
    value: current ? state.value : null,
    error: current ? state.error : null,
    loading: key !== null && (!current || state.loading),
    reload: run,
  };
}
