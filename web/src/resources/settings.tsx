/** Organization settings: name and the per-organization UI (time zone, language, theme colour, logo, icons). */
import { useEffect, useMemo, useState } from 'react';
import {
  Alert,
  Autocomplete,
  Box,
  Button,
  Card,
  CardContent,
  CardHeader,
  Grid,
  MenuItem,
  Stack,
  TextField,
  Typography,
} from '@mui/material';
import { Title, useGetList, useNotify, useTranslate } from 'react-admin';
import { api } from '../providers/http';
import { session } from '../providers/session';
import {
  orgStore,
  useCurrentOrg,
  type Organization,
  type UiSettings,
} from '../providers/orgSettings';
import { loadMe } from '../providers/authProvider';
import { DEFAULT_ICONS, ICONS, ICON_NAMES } from '../components/icons';
import { useCan } from '../components/useCan';
import { TransferCard } from './transfer';

const COLOR = /^#[0-9a-f]{6}$/i;

export function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return (
      intl.supportedValuesOf?.('timeZone') ?? [
        'UTC',
        'Europe/Moscow',
        'Europe/London',
        'America/New_York',
      ]
    );
  } catch {
    return ['UTC'];
  }
}

/** Validates the form before it is sent; keys are the settings' field names. */
export function validateSettings(name: string, s: UiSettings): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!name.trim()) errors.name = 'ra.validation.required';
  if (s.theme?.primaryColor && !COLOR.test(s.theme.primaryColor))
    errors.primaryColor = 'np.settings.errors.color';
  if (s.logoUrl && !/^(https?:\/\/|\/|data:image\/)/.test(s.logoUrl))
    errors.logoUrl = 'np.settings.errors.logo';
  return errors;
}

export function SettingsPage() {
  const translate = useTranslate();
  const notify = useNotify();
  const org = useCurrentOrg();
  const can = useCan('settings');
  const [name, setName] = useState('');
  const [draft, setDraft] = useState<UiSettings>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const zones = useMemo(timeZones, []);

  useEffect(() => {
    if (org) {
      setName(org.name);
      setDraft(org.settings ?? {});
    }
  }, [org]);
  // Leaving the page drops an unsaved preview.
  useEffect(() => () => orgStore.preview(null), []);

  const update = (next: UiSettings) => {
    setDraft(next);
    orgStore.preview(next);
  };

  const save = async () => {
    const found = validateSettings(name, draft);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    const orgId = session.getOrgId();
    if (!orgId) return;
    setSaving(true);
    try {
      const saved = await api<Organization>(`/orgs/${encodeURIComponent(orgId)}`, {
        method: 'PATCH',
        body: { name: name.trim(), settings: draft },
      });
      orgStore.setOrg({
        id: orgId,
        name: saved?.name ?? name.trim(),
        settings: saved?.settings ?? draft,
      });
      void loadMe(true);
      notify('np.settings.saved', { type: 'success' });
    } catch (err) {
      const fieldErrors = (err as { body?: { errors?: Record<string, string> } }).body?.errors;
      if (fieldErrors) {
        setErrors(
          Object.fromEntries(
            Object.entries(fieldErrors).map(([k, v]) => [
              k.replace(/^settings\.(theme\.)?/, ''),
              v,
            ]),
          ),
        );
      }
      notify((err as Error).message, { type: 'error' });
    } finally {
      setSaving(false);
    }
  };

  const err = (k: string) => (errors[k] ? translate(errors[k], { _: errors[k] }) : undefined);
  const sections = Object.keys(DEFAULT_ICONS);

  return (
    <Box sx={{ mt: 1, maxWidth: 1000 }}>
      <Title title={translate('np.settings.title')} />
      {!can ? (
        <Alert severity="info" sx={{ mb: 2 }}>
          {translate('np.common.read_only')}
        </Alert>
      ) : null}
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, md: 6 }}>
          <Card>
            <CardHeader title={translate('np.settings.organization')} />
            <CardContent>
              <Stack spacing={2}>
                <TextField
                  label={translate('np.settings.name')}
                  value={name}
                  onChange={(e) => setName(e.target.value)}
                  error={Boolean(errors.name)}
                  helperText={err('name')}
                  disabled={!can}
                  required
                />
                <Autocomplete
                  options={zones}
                  value={draft.timeZone ?? null}
                  onChange={(_e, v) => update({ ...draft, timeZone: v ?? undefined })}
                  disabled={!can}
                  renderInput={(p) => (
                    <TextField
                      {...p}
                      label={translate('np.settings.time_zone')}
                      helperText={err('timeZone')}
                      error={Boolean(errors.timeZone)}
                    />
                  )}
                />
                <TextField
                  select
                  label={translate('np.settings.language')}
                  value={draft.language ?? ''}
                  onChange={(e) =>
                    update({
                      ...draft,
                      language: (e.target.value || undefined) as UiSettings['language'],
                    })
                  }
                  helperText={translate('np.settings.language_help')}
                  disabled={!can}
                >
                  <MenuItem value="">—</MenuItem>
                  <MenuItem value="en">English</MenuItem>
                  <MenuItem value="ru">Русский</MenuItem>
                </TextField>
              </Stack>
            </CardContent>
          </Card>
        </Grid>
        <Grid size={{ xs: 12, md: 6 }}>
          <Card>
            <CardHeader
              title={translate('np.settings.appearance')}
              subheader={translate('np.settings.appearance_help')}
            />
            <CardContent>
              <Stack spacing={2}>
                <Stack direction="row" spacing={1} alignItems="flex-start">
                  <TextField
                    type="color"
                    label={translate('np.settings.primary_color')}
                    value={
                      COLOR.test(draft.theme?.primaryColor ?? '')
                        ? draft.theme!.primaryColor
                        : '#1976d2'
                    }
                    onChange={(e) =>
                      update({ ...draft, theme: { ...draft.theme, primaryColor: e.target.value } })
                    }
                    sx={{ width: 120 }}
                    disabled={!can}
                  />
                  <TextField
                    label="HEX"
                    value={draft.theme?.primaryColor ?? ''}
                    onChange={(e) =>
                      update({
                        ...draft,
                        theme: { ...draft.theme, primaryColor: e.target.value || undefined },
                      })
                    }
                    error={Boolean(errors.primaryColor)}
                    helperText={err('primaryColor')}
                    placeholder="#1976d2"
                    disabled={!can}
                  />
                </Stack>
                <TextField
                  select
                  label={translate('np.settings.mode')}
                  value={draft.theme?.mode ?? ''}
                  onChange={(e) =>
                    update({
                      ...draft,
                      theme: {
                        ...draft.theme,
                        mode: (e.target.value || undefined) as 'light' | 'dark' | undefined,
                      },
                    })
                  }
                  helperText={translate('np.settings.mode_help')}
                  disabled={!can}
                >
                  <MenuItem value="">—</MenuItem>
                  <MenuItem value="light">{translate('np.settings.mode_light')}</MenuItem>
                  <MenuItem value="dark">{translate('np.settings.mode_dark')}</MenuItem>
                </TextField>
                <TextField
                  label={translate('np.settings.logo_url')}
                  value={draft.logoUrl ?? ''}
                  onChange={(e) => update({ ...draft, logoUrl: e.target.value || undefined })}
                  error={Boolean(errors.logoUrl)}
                  helperText={err('logoUrl') ?? translate('np.settings.logo_help')}
                  disabled={!can}
                />
              </Stack>
            </CardContent>
          </Card>
        </Grid>
        <Grid size={12}>
          <AlertSettings draft={draft} update={update} disabled={!can} error={err} />
        </Grid>
        <Grid size={12}>
          <Card>
            <CardHeader
              title={translate('np.settings.icons')}
              subheader={translate('np.settings.icons_help')}
            />
            <CardContent>
              <Grid container spacing={2}>
                {sections.map((section) => {
                  const current = draft.icons?.[section] ?? DEFAULT_ICONS[section] ?? '';
                  const Icon = ICONS[current];
                  return (
                    <Grid key={section} size={{ xs: 12, sm: 6, md: 4 }}>
                      <Stack direction="row" spacing={1} alignItems="center">
                        {Icon ? <Icon color="primary" /> : null}
                        <TextField
                          select
                          size="small"
                          fullWidth
                          label={translate(
                            section === 'dashboard' || section === 'settings'
                              ? `np.menu.${section}`
                              : `resources.${section}.name`,
                            { smart_count: 2 },
                          )}
                          value={current}
                          disabled={!can}
                          onChange={(e) =>
                            update({
                              ...draft,
                              icons: { ...draft.icons, [section]: e.target.value },
                            })
                          }
                        >
                          {ICON_NAMES.map((n) => {
                            const I = ICONS[n]!;
                            return (
                              <MenuItem key={n} value={n}>
                                <I fontSize="small" sx={{ mr: 1, verticalAlign: 'middle' }} />
                                {n}
                              </MenuItem>
                            );
                          })}
                        </TextField>
                      </Stack>
                    </Grid>
                  );
                })}
              </Grid>
            </CardContent>
          </Card>
        </Grid>
      </Grid>
      {can ? (
        <Stack direction="row" spacing={2} sx={{ mt: 2 }}>
          <Button variant="contained" onClick={() => void save()} disabled={saving}>
            {translate('ra.action.save')}
          </Button>
          <Button
            onClick={() => {
              orgStore.preview(null);
              if (org) {
                setName(org.name);
                setDraft(org.settings ?? {});
              }
            }}
          >
            {translate('np.settings.reset')}
          </Button>
        </Stack>
      ) : null}
      <Typography variant="caption" color="text.secondary" sx={{ display: 'block', mt: 1 }}>
        {translate('np.settings.stored_per_org')}
      </Typography>
      <Box sx={{ mt: 3 }}>
        <TransferCard />
      </Box>
    </Box>
  );
}

/** Where and when alerts go: the alert chat (any chat of the org), minutes of failure, reminder. */
function AlertSettings({
  draft,
  update,
  disabled,
  error,
}: {
  draft: UiSettings;
  update: (next: UiSettings) => void;
  disabled: boolean;
  error: (key: string) => string | undefined;
}) {
  const translate = useTranslate();
  const chats = useGetList('chats', {
    pagination: { page: 1, perPage: 200 },
    sort: { field: 'title', order: 'ASC' },
  });
  const whole = (v: string) => (v === '' ? undefined : Math.max(0, Math.round(Number(v))));
  return (
    <Card data-testid="alert-settings">
      <CardHeader
        title={translate('np.settings.alerts')}
        subheader={translate('np.settings.alerts_help')}
      />
      <CardContent>
        <Grid container spacing={2}>
          <Grid size={{ xs: 12, md: 6 }}>
            <TextField
              select
              fullWidth
              label={translate('np.settings.alert_chat')}
              value={draft.alertChatId ?? ''}
              onChange={(e) => update({ ...draft, alertChatId: e.target.value || null })}
              error={Boolean(error('alertChatId'))}
              helperText={error('alertChatId')}
              disabled={disabled}
            >
              <MenuItem value="">{translate('np.settings.alert_chat_none')}</MenuItem>
              {(chats.data ?? []).map((c) => (
                <MenuItem key={c.id} value={String(c.id)}>
                  {c.title ?? c.username ?? c.telegramChatId}
                </MenuItem>
              ))}
            </TextField>
          </Grid>
          <Grid size={{ xs: 6, md: 3 }}>
            <TextField
              type="number"
              fullWidth
              label={translate('np.settings.alert_after')}
              value={draft.alertAfterMinutes ?? ''}
              placeholder="15"
              slotProps={{ htmlInput: { min: 1, max: 1440 } }}
              onChange={(e) => update({ ...draft, alertAfterMinutes: whole(e.target.value) })}
              error={Boolean(error('alertAfterMinutes'))}
              helperText={error('alertAfterMinutes')}
              disabled={disabled}
            />
          </Grid>
          <Grid size={{ xs: 6, md: 3 }}>
            <TextField
              type="number"
              fullWidth
              label={translate('np.settings.alert_reminder')}
              value={draft.alertReminderHours ?? ''}
              placeholder="24"
              slotProps={{ htmlInput: { min: 0, max: 720 } }}
              onChange={(e) => update({ ...draft, alertReminderHours: whole(e.target.value) })}
              error={Boolean(error('alertReminderHours'))}
              helperText={error('alertReminderHours')}
              disabled={disabled}
            />
          </Grid>
        </Grid>
      </CardContent>
    </Card>
  );
}
