/**
 * The organization switcher in the app bar; "new organization" creates one — empty, or from an
 * export file (Settings → Backup and transfer) — and switches to it.
 */
import { useState, useSyncExternalStore } from 'react';
import {
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  Divider,
  ListSubheader,
  MenuItem,
  Select,
  TextField,
  Typography,
} from '@mui/material';
import Add from '@mui/icons-material/Add';
import { useNotify, useTranslate } from 'react-admin';
import { session } from '../providers/session';
import { api } from '../providers/http';
import { loadMe } from '../providers/authProvider';
import {
  ExportFilePicker,
  importBody,
  ImportSummary,
  readExportFile,
  type ImportResult,
} from '../resources/transfer';

const NEW = '__new__';

export function useSession() {
  const me = useSyncExternalStore(session.subscribe, session.getMe, session.getMe);
  const orgId = useSyncExternalStore(session.subscribe, session.getOrgId, session.getOrgId);
  return { me, orgId };
}

/** Switching remounts the admin (App keys it on the switch epoch), so no cached data of the previous org survives. */
export function switchOrganization(orgId: string): void {
  if (window.location.hash && window.location.hash !== '#/') window.location.hash = '#/';
  session.switchOrg(orgId);
}

export function OrgSwitcher() {
  const translate = useTranslate();
  const notify = useNotify();
  const { me, orgId } = useSession();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [imported, setImported] = useState<ImportResult | null>(null);
  const memberships = me?.memberships ?? [];
  if (!me) return null;

  const close = () => {
    setOpen(false);
    setName('');
    setFile(null);
    setPassphrase('');
    setImported(null);
  };
  const create = async () => {
    try {
      if (file) {
        const document = await readExportFile(file);
        if (document === undefined) return notify('np.transfer.not_json', { type: 'error' });
        // Stays open on what the import did (temporary passwords among it) until "Open".
        setImported(
          await api<ImportResult>('/orgs/import', {
            method: 'POST',
            body: importBody(document, passphrase),
          }),
        );
        await loadMe(true);
        return;
      }
      const org = await api<{ id: string }>('/orgs', {
        method: 'POST',
        body: { name: name.trim() },
      });
      await loadMe(true);
      close();
      switchOrganization(String(org.id));
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    }
  };

  return (
    <>
      <Select
        size="small"
        value={orgId ?? ''}
        onChange={(e) => {
          if (e.target.value === NEW) setOpen(true);
          else switchOrganization(String(e.target.value));
        }}
        inputProps={{ 'aria-label': translate('np.org.switch') }}
        data-testid="org-switcher"
        sx={{
          color: 'inherit',
          mx: { xs: 0.5, sm: 1 },
          maxWidth: { xs: 110, sm: 240 },
          '& .MuiSelect-select': { py: 0.75 },
          '& .MuiOutlinedInput-notchedOutline': { borderColor: 'rgba(255,255,255,0.4)' },
          '& .MuiSvgIcon-root': { color: 'inherit' },
        }}
      >
        <ListSubheader>{translate('np.org.organizations')}</ListSubheader>
        {memberships.map((m) => (
          <MenuItem key={m.organization.id} value={String(m.organization.id)}>
            {m.organization.name} · {translate(`np.roles.${m.role}`)}
          </MenuItem>
        ))}
        <MenuItem value={NEW}>
          <Add fontSize="small" sx={{ mr: 1 }} />
          {translate('np.org.new')}
        </MenuItem>
      </Select>
      <Dialog open={open} onClose={close} maxWidth="sm" fullWidth>
        <DialogTitle>{translate('np.org.new')}</DialogTitle>
        <DialogContent>
          {imported ? (
            <ImportSummary result={imported} />
          ) : (
            <>
              <TextField
                autoFocus
                fullWidth
                margin="dense"
                label={translate('np.org.name')}
                value={name}
                onChange={(e) => setName(e.target.value)}
                disabled={Boolean(file)}
                helperText={file ? translate('np.org.name_from_file') : undefined}
              />
              <Divider sx={{ my: 2 }} />
              <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
                {translate('np.org.from_file')}
              </Typography>
              <ExportFilePicker file={file} onChange={setFile} testId="new-org-file" />
              {file ? (
                <TextField
                  fullWidth
                  margin="dense"
                  type="password"
                  label={translate('np.transfer.import_passphrase')}
                  helperText={translate('np.transfer.import_passphrase_help')}
                  value={passphrase}
                  onChange={(e) => setPassphrase(e.target.value)}
                  autoComplete="off"
                />
              ) : null}
            </>
          )}
        </DialogContent>
        <DialogActions>
          {imported ? (
            <Button
              variant="contained"
              onClick={() => {
                const orgId = imported.orgId;
                close();
                switchOrganization(orgId);
              }}
            >
              {translate('np.org.open')}
            </Button>
          ) : (
            <>
              <Button onClick={close}>{translate('ra.action.cancel')}</Button>
              <Button
                variant="contained"
                disabled={!file && !name.trim()}
                onClick={() => void create()}
              >
                {translate('ra.action.create')}
              </Button>
            </>
          )}
        </DialogActions>
      </Dialog>
    </>
  );
}
