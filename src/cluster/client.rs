//! Sessions whose scans run on a cluster. A plan that reads only the store goes to the scheduler;
//! any other plan (a recursive query, or one reading a table this process holds in memory) runs
//! here, and a note says so.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;

use super::Tls;
use crate::cli::ClusterClientArgs;
use crate::store::Store;

/// A session on a cluster, and the notes on what it ran on this machine instead.
pub struct ClusterSession {
    pub ctx: SessionContext,
    pub url: String,
    notes: Notes,
}

type Notes = Arc<Mutex<BTreeSet<String>>>;

impl ClusterSession {
    /// Why some statements ran here rather than on the cluster, once each.
    pub fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|notes| notes.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A session over `store` whose scans run on the cluster of `args`. The scheduler is not
/// contacted until the first query.
pub fn connect(store: &Store, args: &ClusterClientArgs) -> anyhow::Result<Option<ClusterSession>> {
    let Some(url) = &args.cluster else {
        return Ok(None);
    };
    let scheduler = scheduler_url(url)?;
    let tls = Tls::load(&args.tls)?;
    let superseded = store.superseded_locations()?;
    if !superseded.is_empty() {
        anyhow::bail!(
            "the store at {} holds {} data files an interrupted compaction replaced, which the \
             cluster would read twice\n  hint: run `ctidx compact --store {}` first",
            store.root().display(),
            superseded.len(),
            store.root().display()
        );
    }
    let mut config = crate::sql::session_config().upgrade_for_ballista();
    if let Some(tls) = &tls {
        config = config
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(tls.endpoint_override());
    }
    let state = crate::sql::session_state(store)?
        .with_config(config)
        .build();
    let state = crate::runtime::block_on(SessionContext::remote_with_state(&scheduler, state))?
        .map_err(|e| anyhow::anyhow!("--cluster {url}: {e}"))?
        .state();
    let notes = Notes::default();
    let planner = ClusterPlanner {
        cluster: Arc::clone(state.query_planner()),
        local: DefaultPhysicalPlanner::default(),
        notes: Arc::clone(&notes),
    };
    // Without Ballista's cache factory, `DataFrame::cache` keeps a result in this process, where
    // the session steps read it back.
    let state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .with_cache_factory(None)
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udf(crate::sql::json_extract_scalar());
    ctx.register_table(
        crate::sql::TABLE,
        Arc::new(crate::sql::listing_table(store)?),
    )
    .context("cannot register the store's table")?;
    Ok(Some(ClusterSession {
        ctx,
        url: url.clone(),
        notes,
    }))
}

/// `df://HOST[:PORT]` as the URL Ballista's client takes.
fn scheduler_url(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("df://") else {
        anyhow::bail!("--cluster {url}: expected df://HOST:PORT");
    };
    let rest = rest.trim_end_matches('/');
    let address = if rest.contains(':') {
        rest.to_string()
    } else {
        format!("{rest}:{}", super::DEFAULT_SCHEDULER_PORT)
    };
    let (host, port) = super::host_and_port(&address, "--cluster")?;
    Ok(format!("df://{host}:{port}"))
}

struct ClusterPlanner {
    cluster: Arc<dyn QueryPlanner + Send + Sync>,
    local: DefaultPhysicalPlanner,
    notes: Notes,
}

impl std::fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPlanner")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match placement(plan)? {
            Placement::Cluster => self.cluster.create_physical_plan(plan, session).await,
            Placement::Here(reason) => {
                if let Some(reason) = reason
                    && let Ok(mut notes) = self.notes.lock()
                {
                    notes.insert(reason);
                }
                self.local.create_physical_plan(plan, session).await
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Placement {
    Cluster,
    /// With the reason worth a note; none when the plan reads nothing to distribute.
    Here(Option<String>),
}

/// Where a plan runs: on the cluster when it reads the store and nothing this process holds.
fn placement(plan: &LogicalPlan) -> Result<Placement> {
    let (mut store, mut catalog, mut recursive, mut held, mut extension) =
        (false, false, false, None, None);
    plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::RecursiveQuery(_) => recursive = true,
            LogicalPlan::TableScan(scan) => {
                if scan.table_name.schema() == Some("information_schema") {
                    catalog = true;
                } else if source_as_provider(&scan.source)?
                    .downcast_ref::<ListingTable>()
                    .is_some()
                {
                    store = true;
                } else {
                    held.get_or_insert_with(|| scan.table_name.to_string());
                }
            }
            LogicalPlan::Extension(node) => {
                extension.get_or_insert_with(|| node.node.name().to_string());
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let reason = if recursive {
        "a recursive query (WITH RECURSIVE) ran on this machine: the cluster cannot run one"
            .to_string()
    } else if let Some(table) = held {
        match table.as_str() {
            "?table?" => {
                "a query reading a result held by this process ran on this machine".to_string()
            }
            _ => format!(
                "a query reading {table}, a table held by this process, ran on this machine"
            ),
        }
    } else if let Some(name) = extension {
        format!("a plan with {name} ran on this machine: the cluster cannot run it")
    } else if store && catalog {
        "a query reading information_schema with the store ran on this machine".to_string()
    } else if store {
        return Ok(Placement::Cluster);
    } else {
        return Ok(Placement::Here(None));
    };
    Ok(Placement::Here(Some(reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_address_takes_the_default_port() {
        assert_eq!(scheduler_url("df://sched").unwrap(), "df://sched:50050");
        assert_eq!(
            scheduler_url("df://10.1.2.3:6000/").unwrap(),
            "df://10.1.2.3:6000"
        );
        let error = scheduler_url("http://sched:50050").unwrap_err().to_string();
        assert!(error.contains("df://HOST:PORT"), "{error}");
        assert!(scheduler_url("df://sched:port").is_err());
    }

    fn plan_of(ctx: &SessionContext, sql: &str) -> LogicalPlan {
        crate::runtime::block_on(async { ctx.sql(sql).await.unwrap().into_optimized_plan() })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn only_plans_that_read_the_store_alone_go_to_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let options = datafusion::datasource::listing::ListingOptions::new(Arc::new(
            datafusion::datasource::file_format::parquet::ParquetFormat::default(),
        ));
        let url =
            datafusion::datasource::listing::ListingTableUrl::parse(dir.path().to_str().unwrap())
                .unwrap();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("a", arrow::datatypes::DataType::Int64, true),
        ]));
        let config = datafusion::datasource::listing::ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table("store", Arc::new(ListingTable::try_new(config).unwrap()))
            .unwrap();
        crate::runtime::block_on(ctx.sql("create table held as select 1 as a"))
            .unwrap()
            .unwrap();

        let cluster = plan_of(&ctx, "select count(*) from store where a > 1");
        assert_eq!(placement(&cluster).unwrap(), Placement::Cluster);
        let subquery = plan_of(&ctx, "select a from store where a in (select a from store)");
        assert_eq!(placement(&subquery).unwrap(), Placement::Cluster);

        let held = plan_of(&ctx, "select * from store join held using (a)");
        let Placement::Here(Some(reason)) = placement(&held).unwrap() else {
            panic!("a held table must keep the plan here");
        };
        assert!(reason.contains("held"), "{reason}");
        let in_subquery = plan_of(&ctx, "select a from store where a in (select a from held)");
        assert!(matches!(
            placement(&in_subquery).unwrap(),
            Placement::Here(Some(_))
        ));

        let recursive = plan_of(
            &ctx,
            "with recursive r(n) as (select a from store union all select n + 1 from r where n < 3) select * from r",
        );
        let Placement::Here(Some(reason)) = placement(&recursive).unwrap() else {
            panic!("a recursive query must stay here");
        };
        assert!(reason.contains("recursive"), "{reason}");

        assert_eq!(
            placement(&plan_of(&ctx, "select 1")).unwrap(),
            Placement::Here(None)
        );
    }
}
