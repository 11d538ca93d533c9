/** Sign-up: `POST /auth/signup {email,password,name,organizationName}`, then in as the new org's owner. */
import {
  Form,
  PasswordInput,
  SaveButton,
  TextInput,
  email,
  minLength,
  required,
  useLogin,
  useNotify,
  useTranslate,
  LocalesMenuButton,
} from 'react-admin';
import { Avatar, Box, Card, CardContent, Link, Typography } from '@mui/material';
import PersonAdd from '@mui/icons-material/PersonAdd';
import type { SignupParams } from '../providers/authProvider';

export function SignupPage() {
  const translate = useTranslate();
  const login = useLogin();
  const notify = useNotify();
  const submit = async (values: Record<string, unknown>) => {
    const params: SignupParams = {
      signup: true,
      email: String(values.email ?? '').trim(),
      password: String(values.password ?? ''),
      name: String(values.name ?? '').trim(),
      organizationName: String(values.organizationName ?? '').trim(),
    };
    try {
      await login(params, '/');
    } catch (err) {
      const e = err as Error & { body?: { errors?: Record<string, string> } };
      notify(e.message || 'np.auth.signup_failed', { type: 'error' });
      // Field errors from problem+json go back to the form.
      return e.body?.errors;
    }
  };
  return (
    <Box
      sx={{
        minHeight: '100vh',
        display: 'flex',
        alignItems: 'flex-start',
        justifyContent: 'center',
        pt: { xs: 2, sm: 8 },
        px: 1,
        bgcolor: 'background.default',
      }}
    >
      <Card sx={{ width: '100%', maxWidth: 420 }}>
        <Box sx={{ display: 'flex', justifyContent: 'flex-end', p: 1 }}>
          <LocalesMenuButton />
        </Box>
        <Box sx={{ display: 'flex', justifyContent: 'center' }}>
          <Avatar sx={{ bgcolor: 'secondary.main' }}>
            <PersonAdd />
          </Avatar>
        </Box>
        <CardContent>
          <Typography variant="h5" align="center" gutterBottom>
            {translate('np.auth.signup_title')}
          </Typography>
          <Form onSubmit={submit}>
            <TextInput
              source="name"
              label="np.auth.name"
              validate={required()}
              fullWidth
              autoComplete="name"
            />
            <TextInput
              source="email"
              label="np.auth.email"
              type="email"
              validate={[required(), email()]}
              fullWidth
              autoComplete="email"
            />
            <PasswordInput
              source="password"
              label="np.auth.password"
              validate={[required(), minLength(8)]}
              fullWidth
              autoComplete="new-password"
            />
            <TextInput
              source="organizationName"
              label="np.auth.organization"
              validate={required()}
              fullWidth
              helperText="np.auth.organization_help"
            />
            <SaveButton
              label="np.auth.signup"
              icon={<PersonAdd />}
              fullWidth
              alwaysEnable
              sx={{ mt: 1 }}
            />
          </Form>
          <Box sx={{ textAlign: 'center', mt: 2 }}>
            <Link href="#/login">{translate('np.auth.have_account')}</Link>
          </Box>
        </CardContent>
      </Card>
    </Box>
  );
}
