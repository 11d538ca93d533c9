import {
  Login,
  LoginForm,
  PasswordInput,
  TextInput,
  email,
  required,
  useTranslate,
} from 'react-admin';
import { Box, Link } from '@mui/material';

/** react-admin's default form sends `username`; the API logs in by `email`. */
export function LoginPage() {
  const translate = useTranslate();
  return (
    <Login>
      <LoginForm>
        <TextInput
          autoFocus
          source="email"
          type="email"
          label="np.auth.email"
          autoComplete="username"
          validate={[required(), email()]}
        />
        <PasswordInput
          source="password"
          label="ra.auth.password"
          autoComplete="current-password"
          validate={required()}
        />
      </LoginForm>
      <Box sx={{ textAlign: 'center', pb: 2 }}>
        <Link href="#/signup" data-testid="signup-link">
          {translate('np.auth.no_account')}
        </Link>
      </Box>
    </Login>
  );
}
