/**
 * Backup and move: download the organization's configuration (bots, chats, mailboxes, webhooks,
 * rules, members, settings) as a JSON file, with its secrets sealed by a passphrase if the owner
 * wants them, and import such a file back: matched by natural keys, nothing doubled or deleted.
 * Admins may download without secrets; with secrets and import are the owner's (the server
 * enforces both).
 */
import { useState } from 'react';
import {
  Alert,
  Button,
  Card,
  CardContent,
  CardHeader,
  Grid,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useNotify, usePermissions, useRefresh, useTranslate } from 'react-admin';
import { api, download } from '../providers/http';
import { orgStore } from '../providers/orgSettings';
import { atLeast } from '../providers/roles';
import { session } from '../providers/session';

/** The server's least passphrase length (transfer/service.ts). */
const MIN_PASSPHRASE = 8;

type Counts = { created: number; updated: number; unchanged: number };
export type ImportResult = {
  orgId: string;
  summary: { organization: 'created' | 'updated' | 'unchanged' } & Record<
    'members' | 'bots' | 'chats' | 'mailboxes' | 'webhooks' | 'rules',
    Counts
  >;
  warnings: string[];
  temporaryPasswords: { email: string; password: string }[];
};
const SECTIONS = ['members', 'bots', 'chats', 'mailboxes', 'webhooks', 'rules'] as const;

/** An export document from a file the person chose; undefined when it is not JSON. */
export async function readExportFile(file: File): Promise<unknown> {
  try {
    return JSON.parse(await file.text()) as unknown;
  } catch {
    return undefined;
  }
}

/** The import's body: the document, and the passphrase when one was typed. */
export const importBody = (document: unknown, passphrase: string) => ({
  document,
  ...(passphrase ? { passphrase } : {}),
});

/** A button that picks an export file (.json) and shows its name once picked. */
export function ExportFilePicker(props: {
  file: File | null;
  onChange: (file: File | null) => void;
  testId: string;
  disabled?: boolean;
}) {
  const translate = useTranslate();
  return (
    <Button variant="outlined" component="label" disabled={props.disabled}>
      {props.file ? props.file.name : translate('np.transfer.choose_file')}
      <input
        hidden
        type="file"
        accept="application/json,.json"
        data-testid={props.testId}
        onChange={(e) => {
          props.onChange(e.target.files?.[0] ?? null);
          // the same file can be picked again (after an import, or a fix to it)
          e.target.value = '';
        }}
      />
    </Button>
  );
}

export function TransferCard() {
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const { permissions } = usePermissions();
  const owner = atLeast(permissions, 'owner');
  const [exportPassphrase, setExportPassphrase] = useState('');
  const [importPassphrase, setImportPassphrase] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ImportResult | null>(null);
  if (!atLeast(permissions, 'admin')) return null;

  const orgPath = () => `/orgs/${encodeURIComponent(session.getOrgId() ?? '')}`;
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    try {
      await work();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    } finally {
      setBusy(false);
    }
  };

  const downloadExport = (withSecrets: boolean) =>
    run(async () => {
      await download(
        `${orgPath()}/export`,
        'notifypro-export.json',
        withSecrets ? { method: 'POST', body: { passphrase: exportPassphrase } } : {},
      );
      notify('np.transfer.downloaded', { type: 'success' });
    });

  const upload = () =>
    run(async () => {
      if (!file) return;
      const document = await readExportFile(file);
      if (document === undefined) return notify('np.transfer.not_json', { type: 'error' });
      const answer = await api<ImportResult>(`${orgPath()}/import`, {
        method: 'POST',
        body: importBody(document, importPassphrase),
      });
      setResult(answer);
      setFile(null);
      notify('np.transfer.imported', { type: 'success' });
      // The organization's name and UI settings may have come with the file.
      void orgStore.load();
      refresh();
    });

  const shortPassphrase = (p: string) => p.length > 0 && p.length < MIN_PASSPHRASE;
  return (
    <Card data-testid="transfer">
      <CardHeader
        title={translate('np.transfer.title')}
        subheader={translate('np.transfer.help')}
      />
      <CardContent>
        <Grid container spacing={3}>
          <Grid size={{ xs: 12, md: 6 }}>
            <Stack spacing={2}>
              <Typography variant="subtitle2">{translate('np.transfer.export')}</Typography>
              <Button variant="outlined" disabled={busy} onClick={() => void downloadExport(false)}>
                {translate('np.transfer.download')}
              </Button>
              {owner ? (
                <>
                  <TextField
                    type="password"
                    label={translate('np.transfer.export_passphrase')}
                    value={exportPassphrase}
                    onChange={(e) => setExportPassphrase(e.target.value)}
                    error={shortPassphrase(exportPassphrase)}
                    helperText={translate('np.transfer.passphrase_help', {
                      min: MIN_PASSPHRASE,
                    })}
                    autoComplete="new-password"
                  />
                  <Button
                    variant="outlined"
                    disabled={busy || exportPassphrase.length < MIN_PASSPHRASE}
                    onClick={() => void downloadExport(true)}
                  >
                    {translate('np.transfer.download_secrets')}
                  </Button>
                </>
              ) : null}
            </Stack>
          </Grid>
          {owner ? (
            <Grid size={{ xs: 12, md: 6 }}>
              <Stack spacing={2}>
                <Typography variant="subtitle2">{translate('np.transfer.import')}</Typography>
                <ExportFilePicker
                  file={file}
                  onChange={setFile}
                  disabled={busy}
                  testId="transfer-file"
                />
                <TextField
                  type="password"
                  label={translate('np.transfer.import_passphrase')}
                  value={importPassphrase}
                  onChange={(e) => setImportPassphrase(e.target.value)}
                  helperText={translate('np.transfer.import_passphrase_help')}
                  autoComplete="off"
                />
                <Button variant="contained" disabled={busy || !file} onClick={() => void upload()}>
                  {translate('np.transfer.import_action')}
                </Button>
              </Stack>
            </Grid>
          ) : null}
        </Grid>
        {result ? <ImportSummary result={result} /> : null}
      </CardContent>
    </Card>
  );
}

/** What an import did, per section, with its warnings and the passwords of new accounts. */
export function ImportSummary({ result }: { result: ImportResult }) {
  const translate = useTranslate();
  return (
    <Stack spacing={2} sx={{ mt: 3 }} data-testid="import-summary">
      <Typography variant="subtitle2">
        {translate('np.transfer.summary', {
          organization: translate(`np.transfer.org_${result.summary.organization}`),
        })}
      </Typography>
      <Table size="small">
        <TableHead>
          <TableRow>
            <TableCell />
            <TableCell align="right">{translate('np.transfer.created')}</TableCell>
            <TableCell align="right">{translate('np.transfer.updated')}</TableCell>
            <TableCell align="right">{translate('np.transfer.unchanged')}</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {SECTIONS.map((s) => (
            <TableRow key={s}>
              <TableCell>{translate(`resources.${s}.name`, { smart_count: 2 })}</TableCell>
              <TableCell align="right">{result.summary[s].created}</TableCell>
              <TableCell align="right">{result.summary[s].updated}</TableCell>
              <TableCell align="right">{result.summary[s].unchanged}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {result.warnings.map((w) => (
        <Alert key={w} severity="warning">
          {w}
        </Alert>
      ))}
      {result.temporaryPasswords.length ? (
        <Alert severity="info">
          <Typography variant="body2" sx={{ mb: 1 }}>
            {translate('np.transfer.temporary_passwords')}
          </Typography>
          {result.temporaryPasswords.map((p) => (
            <Typography key={p.email} variant="body2" sx={{ fontFamily: 'monospace' }}>
              {p.email}: {p.password}
            </Typography>
          ))}
        </Alert>
      ) : null}
    </Stack>
  );
}
