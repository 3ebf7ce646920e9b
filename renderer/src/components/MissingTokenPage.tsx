/** Shown in a browser that opened the bridge's address without the access token. */
export function MissingTokenPage() {
  return (
    <main className="standalone-page" data-testid="missing-token">
      <h1>Tidemark</h1>
      <p className="lead">
        Open the URL printed by <code>tidemark web</code> (it contains the access token).
      </p>
      <p>
        It looks like <code>http://127.0.0.1:PORT/?token=…</code>. The token keeps other programs
        and web pages on this computer from using Tidemark; it changes every time{' '}
        <code>tidemark web</code> starts.
      </p>
    </main>
  );
}
