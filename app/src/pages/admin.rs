//! `/admin`: workspaces, users and memberships (founders), API keys
//! (founders and admins). Every form posts to a server function that checks
//! the viewer's role itself; the page works without JavaScript.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::accounts::MIN_PASSWORD_CHARS;
use crate::admin_api::{
    admin_overview, AdminData, CreateKey, CreateUser, CreateWorkspace, GrantMembership, Notice, RevokeKey,
    RevokeMembership, Typed, UpdateUser,
};
use crate::components::{loaded_view, ListHead, PageTitle, TopBar};
use crate::format::absolute_time;
use crate::model::{ApiKeySummary, Micros, Role, UserSummary, WorkspaceSummary};

#[component]
pub fn AdminPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| admin_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded_view(data.await, |data| view! { <Admin data/> }.into_any()) })}
        </Suspense>
    }
}

/// A form posting to the server function at `to`. The server runs it, keeps
/// the outcome, and sends the browser back here: no JavaScript involved.
#[component]
pub(crate) fn PostForm(
    to: &'static str,
    class: &'static str,
    #[prop(optional)] label: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    view! { <form method="post" action=to class=class aria-label=label>{children()}</form> }
}

/// A form for what cannot be undone: its first button only opens the
/// question, beside the button that does it (`<details>`: no JavaScript).
#[component]
pub(crate) fn ConfirmedForm(
    to: &'static str,
    /// The first button's text, and the second's.
    action: &'static str,
    /// What the second click will do, to whom.
    question: String,
    /// The hidden fields naming what it is done to.
    children: Children,
) -> impl IntoView {
    let label = question.clone();
    view! {
        <details class="confirm">
            <summary>{action}</summary>
            <form method="post" action=to aria-label=label>
                {children()}
                <span>{question}</span>
                " "
                <button type="submit" class="danger">{action}</button>
            </form>
        </details>
    }
}

/// The last action's outcome.
pub(crate) fn notice_view(notice: Notice) -> impl IntoView {
    match notice {
        Notice::Done(message) => view! { <p class="notice" role="status">{message}</p> }.into_any(),
        Notice::Failed(message, _) => view! { <p class="alert" role="alert">{message}</p> }.into_any(),
        Notice::NewKey(secret) => view! {
            <div class="notice" role="status">
                <p>"Copy this key now; it is not shown again:"</p>
                <p class="secret" data-testid="new-key">{secret}</p>
            </div>
        }
        .into_any(),
        Notice::NewSecret(secret) => view! {
            <div class="notice" role="status">
                <p>"Copy this signing secret now; it is not shown again:"</p>
                <p class="secret" data-testid="new-secret">{secret}</p>
            </div>
        }
        .into_any(),
    }
}

#[component]
fn Admin(data: AdminData) -> impl IntoView {
    let AdminData { viewer, workspaces, users, keys, notice } = data;
    let is_founder = viewer.role == Role::Founder;
    // What a member or a key may be given: not Trail's own workspace.
    let slugs: Vec<String> =
        workspaces.iter().map(|w| w.slug.clone()).filter(|slug| slug != crate::model::PLATFORM_WORKSPACE).collect();
    view! {
        <PageTitle text="Admin"/>
        <TopBar viewer/>
        <main id="main" class="page admin">
            <h1>"Administration"</h1>
            {notice.clone().map(notice_view)}
            <p><a href="/admin/retention">"Retention periods"</a> " · " <a href="/admin/webhooks">"Webhooks"</a> " · "
                <a href="/admin/alerts">"Alert rules"</a></p>
            <WorkspacesSection workspaces can_create=is_founder typed=Typed::of(&notice, CreateWorkspace::PATH)/>
            {users.map(|users| {
                let typed = Typed::of(&notice, CreateUser::PATH);
                view! { <UsersSection users slugs=slugs.clone() typed/> }
            })}
            <KeysSection keys slugs typed=Typed::of(&notice, CreateKey::PATH)/>
        </main>
    }
}

#[component]
fn WorkspacesSection(workspaces: Vec<WorkspaceSummary>, can_create: bool, typed: Typed) -> impl IntoView {
    view! {
        <section aria-labelledby="workspaces">
            <h2 id="workspaces">"Workspaces"</h2>
            <table class="list">
                <ListHead columns=&["Slug", "Name"]/>
                <tbody>
                    {workspaces.into_iter().map(|w| view! {
                        <tr><td><a href=format!("/?workspace={}", w.slug)>{w.slug.clone()}</a></td><td>{w.name}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            {can_create.then(|| view! {
                <PostForm to=CreateWorkspace::PATH class="inline" label="New workspace">
                    <label>"Slug" <input name="slug" required pattern="[a-z0-9][a-z0-9_\\-]*" maxlength="64"
                        value=typed.value("slug")/></label>
                    <label>"Name" <input name="name" value=typed.value("name")/></label>
                    <button type="submit" class="primary">"Create workspace"</button>
                </PostForm>
            })}
        </section>
    }
}

fn role_options(selected: Role) -> impl IntoView + use<> {
    Role::ALL
        .iter()
        .map(|role| view! { <option value=role.as_str() selected=*role == selected>{role.as_str()}</option> })
        .collect_view()
}

/// A select's options, `values`, the one `typed` holds for `name` chosen.
pub(crate) fn typed_options(values: &[&'static str], typed: &Typed, name: &str) -> impl IntoView + use<> {
    values
        .iter()
        .map(|value| view! { <option value=*value selected=typed.holds(name, value)>{value.replace(',', ", ")}</option> })
        .collect_view()
}

/// The workspaces to choose from, `selected` chosen (none: the blank one).
pub(crate) fn workspace_options(slugs: &[String], blank: &'static str, selected: &str) -> impl IntoView + use<> {
    std::iter::once(view! { <option value="">{blank}</option> }.into_any())
        .chain(
            slugs
                .iter()
                .map(|s| view! { <option value=s.clone() selected=s == selected>{s.clone()}</option> }.into_any()),
        )
        .collect_view()
}

#[component]
fn UsersSection(users: Vec<UserSummary>, slugs: Vec<String>, typed: Typed) -> impl IntoView {
    // A refused new user comes back as typed (the password is never kept).
    let role = typed.value("role").parse().unwrap_or(Role::Provider);
    let rows = users
        .into_iter()
        .map(|user| {
            let (user_id, email) = (user.id, user.email.clone());
            let memberships = user
                .memberships
                .into_iter()
                .map(|m| {
                    let email = email.clone();
                    let label = match &m.brand {
                        Some(brand) => format!("{} (brand {brand})", m.workspace),
                        None => m.workspace.clone(),
                    };
                    view! {
                        <li>
                            {label} " "
                            <ConfirmedForm to=RevokeMembership::PATH action="Remove"
                                question=format!("Remove {email} from {}? They no longer see its records.", m.workspace)>
                                <input type="hidden" name="user_id" value=user_id/>
                                <input type="hidden" name="workspace" value=m.workspace.clone()/>
                            </ConfirmedForm>
                        </li>
                    }
                })
                .collect_view();
            let slugs = slugs.clone();
            let grant = (!user.role.is_platform()).then(move || view! {
                <PostForm to=GrantMembership::PATH class="inline">
                    <input type="hidden" name="user_id" value=user.id/>
                    <label>"Workspace" <select name="workspace" required>{workspace_options(&slugs, "choose…", "")}</select></label>
                    <label>"Brand" <input name="brand" size="10"/></label>
                    <button type="submit" class="secondary">"Add membership"</button>
                </PostForm>
            });
            view! {
                <tr>
                    <td>{user.email.clone()} <br/> <span class="muted">{user.name.clone()}</span></td>
                    <td>
                        <PostForm to=UpdateUser::PATH class="inline">
                            <input type="hidden" name="user_id" value=user.id/>
                            <label>
                                "Role" <select name="role">{role_options(user.role)}</select>
                            </label>
                            <label>
                                "Access"
                                <select name="disabled">
                                    <option value="false" selected=!user.disabled>"active"</option>
                                    <option value="true" selected=user.disabled>"disabled"</option>
                                </select>
                            </label>
                            <button type="submit" class="secondary">"Save"</button>
                        </PostForm>
                    </td>
                    <td><ul class="plain">{memberships}</ul> {grant}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="users">
            <h2 id="users">"Users"</h2>
            <table class="list">
                <ListHead columns=&["User", "Role and access", "Memberships"]/>
                <tbody>{rows}</tbody>
            </table>
            <h3>"New user"</h3>
            <PostForm to=CreateUser::PATH class="inline" label="New user">
                <label>"Email" <input type="email" name="email" required value=typed.value("email")/></label>
                <label>"Name" <input name="name" value=typed.value("name")/></label>
                <label>"Role" <select name="role">{role_options(role)}</select></label>
                <label>"Workspace" <select name="workspace">
                    {workspace_options(&slugs, "none (platform roles)", &typed.value("workspace"))}
                </select></label>
                <label>"Brand" <input name="brand" size="10" value=typed.value("brand")/></label>
                <label>"Password" <input type="password" name="password" required minlength=MIN_PASSWORD_CHARS autocomplete="new-password"/></label>
                <button type="submit" class="primary">"Create user"</button>
            </PostForm>
        </section>
    }
}

#[component]
fn KeysSection(keys: Vec<ApiKeySummary>, slugs: Vec<String>, typed: Typed) -> impl IntoView {
    let rows = keys
        .into_iter()
        .map(|key| {
            let used = key.last_used_at.map_or("never".to_owned(), |t| absolute_time(Micros(t)));
            let revoked = key.revoked_at.is_some();
            view! {
                <tr class:muted=revoked>
                    <td>{key.name.clone()} <br/> <code>{format!("{}…", key.prefix)}</code></td>
                    <td>{key.workspace.clone().unwrap_or_else(|| "every workspace".into())}</td>
                    <td>{key.scopes.clone()}</td>
                    <td>{absolute_time(key.created_at)}</td>
                    <td>{used}</td>
                    <td>
                        {if revoked {
                            view! { "revoked" }.into_any()
                        } else {
                            view! {
                                <ConfirmedForm to=RevokeKey::PATH action="Revoke"
                                    question=format!("Revoke {}? Requests with it are refused from now on; this cannot be undone.", key.name)>
                                    <input type="hidden" name="key_id" value=key.id/>
                                </ConfirmedForm>
                            }.into_any()
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
            <section aria-labelledby="keys">
                <h2 id="keys">"API keys"</h2>
                <table class="list">
                    <ListHead columns=&["Key", "Workspace", "Scopes", "Created", "Last used", "Status"]/>
                    <tbody>{rows}</tbody>
                </table>
                <h3>"New key"</h3>
                <PostForm to=CreateKey::PATH class="inline" label="New API key">
                    <label>"Workspace" <select name="workspace">
                        {workspace_options(&slugs, "every workspace", &typed.value("workspace"))}
                    </select></label>
                    <label>
                        "Scopes"
                        <select name="scopes">
    {typed_options(&["ingest", "read", "ingest,read"], &typed, "scopes")}
                        </select>
                    </label>
                    <label>"Name" <input name="name" value=typed.value("name")/></label>
                    <button type="submit" class="primary">"Create key"</button>
                </PostForm>
            </section>
        }
}
