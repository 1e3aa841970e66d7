// Shared by the kernels that run one thread per element, launched by grid_1d (src/gpu): past
// 65 535 workgroups one grid dimension is full, so the launch folds onto x and y, and
// `thread_index` unfolds it. An entry point takes a `Grid` to have both builtins it needs.

struct Grid {
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
}

// This thread's element, for workgroups of `size` threads (the entry's @workgroup_size).
fn thread_index(grid: Grid, size: u32) -> u32 {
    return grid.id.x + grid.id.y * grid.groups.x * size;
}
