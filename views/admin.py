"""Admin: retrain with progress (the same core.pipeline.train as the CLI), behind the admin
password (Streamlit secret ``admin_password`` or environment variable
``SHOPSPHERE_ADMIN_PASSWORD``, compared in constant time with ``hmac.compare_digest``).
With no password set, admin actions are allowed only while the server listens on localhost
only (the default in ``.streamlit/config.toml``)."""
import hmac

import streamlit as st

from core.errors import DataError
from core.pipeline import train
from views.common import active_run_id, admin_password, server_is_local, settings, show_error

st.title("Admin: retrain")
secret = admin_password()
if secret:
    given = st.text_input("Admin password", type="password")
    if not given:
        st.info("Admin actions need the admin password.")
        st.stop()
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        st.error("Wrong admin password.")
        st.stop()
elif server_is_local():
    st.info("No admin password is set (Streamlit secret `admin_password` or environment variable "
            "`SHOPSPHERE_ADMIN_PASSWORD`): admin actions are allowed because this server only listens on localhost.")
else:
    st.error(f"This server listens on {st.get_option('server.address') or 'all addresses'} and no admin password is "
             "set: admin actions are disabled. Set the Streamlit secret `admin_password` or the environment variable "
             "`SHOPSPHERE_ADMIN_PASSWORD`.")
    st.stop()

st.write(f"Current run: `{active_run_id() or 'none'}`")
data = st.text_input("Data file (CSV or Parquet); empty = the default ShopSphere table", "")
spec = st.text_input("Spec file (TOML); empty = built-in ShopSphere spec", "")
if st.button("Train a new run", type="primary"):
    bar = st.progress(0.0, "starting")
    try:
        run = train(data or None, spec or None, settings(), progress=lambda f, msg: bar.progress(min(f, 1.0), msg))
    except DataError as exc:
        show_error(exc)
    else:
        st.cache_data.clear()
        st.success(f"Run {run.run_id} trained and made current.")
