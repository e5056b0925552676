//! `/account`: who is signed in, and a new password.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::admin::{notice_view, PostForm};
use crate::account::{account_overview, AccountData, ChangePassword};
use crate::accounts::MIN_PASSWORD_CHARS;
use crate::components::{loaded_view, PageTitle, TopBar};

#[component]
pub fn AccountPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| account_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(data.await, |data| view! { <AccountView data/> }.into_any())
            })}
        </Suspense>
    }
}

#[component]
fn AccountView(data: AccountData) -> impl IntoView {
    let AccountData { viewer, notice } = data;
    let (email, role) = (viewer.email.clone(), viewer.role.as_str());
    view! {
        <PageTitle text="Your account"/>
        <TopBar viewer/>
        <main id="main" class="page admin">
            <h1>"Your account"</h1>
            {notice.map(notice_view)}
            <p>"Signed in as " <bdi>{email}</bdi> " (" {role} ")."</p>
            <h2>"Change your password"</h2>
            <PostForm to=ChangePassword::PATH class="inline" label="Change your password">
                <label>"Current password"
                    <input type="password" name="current" autocomplete="current-password" required/></label>
                <label>{format!("New password (at least {MIN_PASSWORD_CHARS} characters)")}
                    <input type="password" name="password" autocomplete="new-password" required minlength=MIN_PASSWORD_CHARS/></label>
                <label>"New password again"
                    <input type="password" name="repeated" autocomplete="new-password" required minlength=MIN_PASSWORD_CHARS/></label>
                <button type="submit" class="primary">"Change password"</button>
            </PostForm>
            <p class="muted">"Your other sessions are signed out when it changes."</p>
        </main>
    }
}
