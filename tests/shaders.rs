//! The WGSL kernels against their Rust declarations, without a GPU: every kernel's module
//! (its uniform and buffers declared from the specs, see `KernelSpec::source`) parses and
//! validates with naga, each entry point reads only the buffers its own spec binds, and the
//! uniform is laid out as the Rust parameter struct. Otherwise a mismatch shows only when a
//! kernel runs on a device, as a failed pipeline, another kernel's buffer or garbled
//! parameters.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::path::Path;

use genlab::gpu::{Access, KernelSpec, ParamsLayout};
use naga::common::wgsl::TryToWgsl;
use naga::valid::{Capabilities, ModuleInfo, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
use naga::{AddressSpace, Module, ShaderStage, StorageAccess, TypeInner};

/// The render shader of the page's canvas (src/web/canvas.rs): no kernel compiles it.
const RENDER_SHADERS: &[&str] = &["display.wgsl"];

struct Compiled {
    module: Module,
    info: ModuleInfo,
}

/// Parses and validates one module, with the subgroup operations only where `subgroups` (as
/// a device without them would refuse any other shader that used them).
fn compile(name: &str, source: &str, subgroups: bool) -> Result<Compiled, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, name))?;
    let mut validator = if subgroups {
        let mut validator = Validator::new(ValidationFlags::all(), Capabilities::SUBGROUP);
        validator.subgroup_stages(ShaderStages::COMPUTE).subgroup_operations(SubgroupOperationSet::all());
        validator
    } else {
        Validator::new(ValidationFlags::all(), Capabilities::default())
    };
    let info = validator.validate(&module).map_err(|e| e.emit_to_string_with_path(source, name))?;
    Ok(Compiled { module, info })
}

/// Each shader's module, compiled once from the sources of the first spec that names it, as
/// the pipeline cache does.
fn compile_all() -> HashMap<&'static str, (&'static KernelSpec, Compiled)> {
    let mut modules = HashMap::new();
    for spec in genlab::kernels::specs() {
        if !modules.contains_key(spec.shader) {
            let compiled = compile(spec.shader, &spec.source(), spec.subgroups).unwrap_or_else(|e| panic!("{e}"));
            modules.insert(spec.shader, (spec, compiled));
        }
    }
    modules
}

/// Everything wrong with how `spec`'s entry point binds its buffers and reads its uniform.
fn mismatches(spec: &KernelSpec, compiled: &Compiled) -> Vec<String> {
    let Compiled { module, info } = compiled;
    let Some(index) = module.entry_points.iter().position(|e| e.name == spec.entry) else {
        return vec!["no such entry point".into()];
    };
    let mut problems = Vec::new();
    if module.entry_points[index].stage != ShaderStage::Compute {
        problems.push("not a compute entry point".into());
    }
    let uses = info.get_entry_point(index);
    for (handle, global) in module.global_variables.iter() {
        let Some(binding) = &global.binding else { continue };
        if uses[handle].is_empty() {
            continue;
        }
        let name = global.name.as_deref().unwrap_or("?");
        let at = format!("@group({}) @binding({}) {name}", binding.group, binding.binding);
        if binding.group != 0 {
            problems.push(format!("{at}: every kernel binds group 0 only"));
        } else if binding.binding == 0 {
            match (global.space, &module.types[global.ty].inner) {
                (AddressSpace::Uniform, TypeInner::Struct { members, span }) => {
                    problems.extend(layout_mismatches(module, members, *span, &spec.params))
                }
                _ => problems.push(format!("{at}: should be the uniform parameter struct")),
            }
        } else {
            // The module declares every kernel's buffers; an entry point must read only its
            // own, at the slots its spec gives them, or it would read another kernel's buffer.
            let own = spec.bindings.get(binding.binding as usize - 1).filter(|b| b.name == name);
            let used = match global.space {
                AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => Some(Access::ReadWrite),
                AddressSpace::Storage { .. } => Some(Access::Read),
                _ => None,
            };
            match own {
                None => problems.push(format!("{at}: not one of this kernel's buffers")),
                Some(own) if Some(own.access) != used => {
                    problems.push(format!("{at}: {:?} in WGSL, {:?} in the spec", used, own.access))
                }
                Some(_) => {}
            }
        }
    }
    problems
}

/// Where the WGSL uniform struct and the Rust one differ: size, and each member's name,
/// offset, size and type.
fn layout_mismatches(module: &Module, members: &[naga::StructMember], span: u32, rust: &ParamsLayout) -> Vec<String> {
    let mut problems = Vec::new();
    if span as usize != rust.size {
        problems.push(format!("params: {span} bytes in WGSL, {} in Rust", rust.size));
    }
    let wgsl: Vec<(String, usize, usize, String)> = members
        .iter()
        .map(|member| {
            let inner = &module.types[member.ty].inner;
            let ty = match inner {
                TypeInner::Scalar(scalar) => scalar.to_wgsl_for_diagnostics(),
                other => format!("{other:?}"),
            };
            let name = member.name.clone().unwrap_or_default();
            (name, member.offset as usize, inner.size(module.to_ctx()) as usize, ty)
        })
        .collect();
    let rust: Vec<(String, usize, usize, String)> =
        rust.fields.iter().map(|f| (f.name.to_string(), f.offset, f.size, f.ty.to_string())).collect();
    for i in 0..wgsl.len().max(rust.len()) {
        let (w, r) = (wgsl.get(i), rust.get(i));
        if w != r {
            let show = |m: Option<&(String, usize, usize, String)>| {
                m.map_or("nothing".into(), |(name, offset, size, ty)| {
                    format!("{name}: {ty} at {offset} ({size} bytes)")
                })
            };
            problems.push(format!("params field {i}: {} in WGSL, {} in Rust", show(w), show(r)));
        }
    }
    problems
}

#[test]
fn every_kernel_binds_and_reads_what_its_spec_declares() {
    let modules = compile_all();
    let mut problems = Vec::new();
    for spec in genlab::kernels::specs() {
        let (first, compiled) = &modules[spec.shader];
        // The pipeline cache compiles a shader once, from whichever spec comes first.
        if first.sources != spec.sources {
            problems.push(format!(
                "{}::{}: other sources than {} for the same shader",
                spec.shader, spec.entry, first.entry
            ));
        }
        problems
            .extend(mismatches(spec, compiled).into_iter().map(|p| format!("{}::{}: {p}", spec.shader, spec.entry)));
    }
    assert!(problems.is_empty(), "WGSL and Rust disagree:\n{}", problems.join("\n"));
}

#[test]
fn kernels_that_share_a_buffer_name_bind_it_alike() {
    let mut problems = Vec::new();
    for spec in genlab::kernels::specs() {
        for other in spec.module.iter() {
            for (slot, binding) in spec.bindings.iter().enumerate() {
                let theirs = other.bindings.iter().enumerate().find(|(_, b)| b.name == binding.name);
                if let Some((other_slot, theirs)) = theirs.filter(|&(s, b)| (s, b) != (slot, binding)) {
                    problems.push(format!(
                        "{}: {} binds {} as {binding:?} at {}, {} as {theirs:?} at {}",
                        spec.shader,
                        spec.entry,
                        binding.name,
                        slot + 1,
                        other.entry,
                        other_slot + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "one name, two buffers (the module declares the first):\n{}", problems.join("\n"));
}

#[test]
fn every_compute_entry_point_has_a_spec() {
    let specs: Vec<_> = genlab::kernels::specs().map(|spec| (spec.shader, spec.entry)).collect();
    let mut missing = Vec::new();
    for (shader, (_, compiled)) in compile_all() {
        for entry in &compiled.module.entry_points {
            if entry.stage == ShaderStage::Compute && !specs.contains(&(shader, entry.name.as_str())) {
                missing.push(format!("{shader}::{}", entry.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "entry points no kernel spec names (or whose spec is not in its module's SPECS): {missing:?}"
    );
}

#[test]
fn every_shader_file_is_compiled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut unused = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("shaders/ is readable") {
        let path = entry.expect("shaders/ lists").path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name").to_string();
        let text = std::fs::read_to_string(&path).expect("a shader file is UTF-8");
        if RENDER_SHADERS.contains(&name.as_str()) {
            // Still a module of its own, with its Params: it must at least be valid WGSL.
            if let Err(e) = compile(&name, &genlab::kernels::display::source(), false) {
                panic!("{e}");
            }
        } else if !genlab::kernels::specs().any(|spec| spec.sources.contains(&text.as_str())) {
            unused.push(name);
        }
    }
    assert!(unused.is_empty(), "shader files no kernel spec compiles: {unused:?}");
}
