//! Label maps: a volume of integer region labels (0 = background) with the regions' names, and
//! regrouping of fine regions into coarse classes, such as AAL's 116 regions into lobes
//! ([`aal_lobes`]).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let dir = data_dir().join("mricron/templates");
//! let aal = LabelMap::load(dir.join("aal.nii.gz"))?.names_from(dir.join("aal.nii.txt"))?;
//! let lobes = aal.regroup(&aal_lobes())?; // 10 classes: background + 9 groups
//! # Ok::<(), tuna::Error>(())
//! ```

use super::nii::{Interpolation, Volume};
use crate::error::{Error, Result};
use std::path::Path;

/// A volume of region labels `0..num_classes()` and the name of each label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMap {
    volume: Volume,
    names: Vec<String>,
}

impl LabelMap {
    /// Labels from a volume whose voxels are whole numbers ≥ 0; names are the numbers until
    /// [`LabelMap::names_from`] or [`LabelMap::names`] gives better ones.
    pub fn new(volume: Volume) -> Result<Self> {
        if let Some(v) = volume.data().iter().find(|v| v.fract() != 0.0 || **v < 0.0 || !v.is_finite()) {
            return Err(Error::parse(
                volume.path(),
                None,
                format!("holds the value {v}: a label map holds whole numbers ≥ 0 (is this an intensity image?)"),
            ));
        }
        let max = volume.data().iter().copied().fold(0.0f32, f32::max) as usize;
        let names = (0..=max).map(|l| if l == 0 { "background".to_string() } else { l.to_string() }).collect();
        Ok(LabelMap { volume, names })
    }

    /// Reads a NIfTI label map (see [`Volume::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        LabelMap::new(Volume::load(path)?)
    }

    /// Region names from a text file of `label name [anything]` lines (MRIcron's `aal.nii.txt`:
    /// `1 Precentral_L 2001`); labels the file does not name keep their number.
    pub fn names_from(mut self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_whitespace();
            let (Some(label), Some(name)) = (fields.next(), fields.next()) else { continue };
            let label: usize = label
                .parse()
                .map_err(|_| Error::parse(path, Some(n + 1), format!("`{label}` is not a label number (expected `label name`)")))?;
            if label >= self.names.len() {
                self.names.resize_with(label + 1, String::new);
                for (l, slot) in self.names.iter_mut().enumerate().filter(|(_, s)| s.is_empty()) {
                    *slot = l.to_string();
                }
            }
            self.names[label] = name.to_string();
        }
        Ok(self)
    }

    /// Replaces the names: `names[l]` names label `l` (label 0 included).
    pub fn names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() < self.names.len() {
            return Err(Error::config(
                "names",
                format!("{} names for labels 0–{} of {}", names.len(), self.names.len() - 1, self.volume.path().display()),
            ));
        }
        self.names = names;
        Ok(self)
    }

    /// The label volume.
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// Label names, indexed by label.
    pub fn label_names(&self) -> &[String] {
        &self.names
    }

    /// Number of labels, background included.
    pub fn num_classes(&self) -> usize {
        self.names.len()
    }

    /// Voxels per label.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.names.len()];
        for &v in self.volume.data() {
            counts[v as usize] += 1;
        }
        counts
    }

    /// The map with labels replaced as `table` says: label 0 stays background, each group
    /// becomes label 1, 2, … in the table's order. A label present in the map but in no group
    /// is an error listing it.
    pub fn regroup(&self, table: &Regroup) -> Result<LabelMap> {
        let mapping = table.mapping(&self.names)?;
        let data = self.volume.data().iter().map(|&v| mapping[v as usize] as f32).collect();
        let volume = Volume::new(data, self.volume.shape(), *self.volume.affine(), self.volume.path())?;
        let names = std::iter::once("background".to_string()).chain(table.groups.iter().map(|g| g.0.clone())).collect();
        Ok(LabelMap { volume, names })
    }

    /// The map resampled to `shape` by nearest neighbour (no new labels appear).
    pub fn resample(&self, shape: [usize; 3]) -> Result<LabelMap> {
        let volume = self.volume.resample(shape, Interpolation::Nearest)?;
        Ok(LabelMap { volume, names: self.names.clone() })
    }
}

/// A table of named groups of region names for [`LabelMap::regroup`]. An entry matches a
/// region called exactly that, or that plus a hemisphere suffix `_L` / `_R`
/// (`"Precentral"` matches `Precentral_L` and `Precentral_R`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Regroup {
    groups: Vec<(String, Vec<String>)>,
}

impl Regroup {
    /// An empty table.
    pub fn new() -> Self {
        Regroup::default()
    }

    /// Adds the group `name` made of `regions`.
    pub fn group(mut self, name: impl Into<String>, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.groups.push((name.into(), regions.into_iter().map(Into::into).collect()));
        self
    }

    /// The group names, in label order (label 1 first).
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|g| g.0.as_str()).collect()
    }

    /// The group (1-based; 0 = background) of the region called `name`, if any.
    pub fn group_of(&self, name: &str) -> Option<usize> {
        let base = name.strip_suffix("_L").or_else(|| name.strip_suffix("_R"));
        self.groups
            .iter()
            .position(|(_, regions)| regions.iter().any(|r| r == name || Some(r.as_str()) == base))
            .map(|g| g + 1)
    }

    /// old label → new label, for the labels `names` names.
    fn mapping(&self, names: &[String]) -> Result<Vec<usize>> {
        let mut mapping = vec![0; names.len()];
        let mut missing = Vec::new();
        for (label, name) in names.iter().enumerate().skip(1) {
            match self.group_of(name) {
                Some(g) => mapping[label] = g,
                None => missing.push(format!("{label} `{name}`")),
            }
        }
        if !missing.is_empty() {
            let more = if missing.len() > 8 { format!(" and {} more", missing.len() - 8) } else { String::new() };
            missing.truncate(8);
            return Err(Error::config(
                "regroup",
                format!(
                    "no group takes label {}{more}: add them to a group (groups: {})",
                    missing.join(", "),
                    self.group_names().join(", ")
                ),
            ));
        }
        Ok(mapping)
    }
}

/// AAL's 116 regions (Tzourio-Mazoyer et al., "Automated anatomical labeling of activations in
/// SPM using a macroscopic anatomical parcellation of the MNI MRI single-subject brain",
/// NeuroImage 15:273–289, 2002) grouped as that paper's Table 2 lists the 90 cerebral regions,
/// by lobe, with the 26 cerebellar regions (hemispheres and vermis) as one more group:
///
/// | label | group | AAL regions (each `_L` and `_R` unless a vermis part) |
/// | --- | --- | --- |
/// | 1 | central | Precentral, Postcentral, Rolandic_Oper |
/// | 2 | frontal | Frontal_Sup, Frontal_Mid, Frontal_Inf_Oper, Frontal_Inf_Tri, Frontal_Sup_Medial, Supp_Motor_Area, Paracentral_Lobule, Frontal_Sup_Orb, Frontal_Mid_Orb, Frontal_Inf_Orb, Frontal_Med_Orb, Rectus, Olfactory |
/// | 3 | temporal | Temporal_Sup, Heschl, Temporal_Mid, Temporal_Inf |
/// | 4 | parietal | Parietal_Sup, Parietal_Inf, SupraMarginal, Angular, Precuneus |
/// | 5 | occipital | Occipital_Sup, Occipital_Mid, Occipital_Inf, Cuneus, Calcarine, Lingual, Fusiform |
/// | 6 | limbic | Temporal_Pole_Sup, Temporal_Pole_Mid, Cingulum_Ant, Cingulum_Mid, Cingulum_Post, Hippocampus, ParaHippocampal |
/// | 7 | insula | Insula |
/// | 8 | subcortical | Amygdala, Caudate, Putamen, Pallidum, Thalamus |
/// | 9 | cerebellum | Cerebelum_Crus1, _Crus2, _3, _4_5, _6, _7b, _8, _9, _10; Vermis_1_2, _3, _4_5, _6, _7, _8, _9, _10 |
///
/// Region names are MRIcron's `aal.nii.txt` spelling (`Cerebelum` with one `l`, as in AAL).
pub fn aal_lobes() -> Regroup {
    Regroup::new()
        .group("central", ["Precentral", "Postcentral", "Rolandic_Oper"])
        .group(
            "frontal",
            [
                "Frontal_Sup",
                "Frontal_Mid",
                "Frontal_Inf_Oper",
                "Frontal_Inf_Tri",
                "Frontal_Sup_Medial",
                "Supp_Motor_Area",
                "Paracentral_Lobule",
                "Frontal_Sup_Orb",
                "Frontal_Mid_Orb",
                "Frontal_Inf_Orb",
                "Frontal_Med_Orb",
                "Rectus",
                "Olfactory",
            ],
        )
        .group("temporal", ["Temporal_Sup", "Heschl", "Temporal_Mid", "Temporal_Inf"])
        .group("parietal", ["Parietal_Sup", "Parietal_Inf", "SupraMarginal", "Angular", "Precuneus"])
        .group("occipital", ["Occipital_Sup", "Occipital_Mid", "Occipital_Inf", "Cuneus", "Calcarine", "Lingual", "Fusiform"])
        .group(
            "limbic",
            ["Temporal_Pole_Sup", "Temporal_Pole_Mid", "Cingulum_Ant", "Cingulum_Mid", "Cingulum_Post", "Hippocampus", "ParaHippocampal"],
        )
        .group("insula", ["Insula"])
        .group("subcortical", ["Amygdala", "Caudate", "Putamen", "Pallidum", "Thalamus"])
        .group(
            "cerebellum",
            [
                "Cerebelum_Crus1",
                "Cerebelum_Crus2",
                "Cerebelum_3",
                "Cerebelum_4_5",
                "Cerebelum_6",
                "Cerebelum_7b",
                "Cerebelum_8",
                "Cerebelum_9",
                "Cerebelum_10",
                "Vermis_1_2",
                "Vermis_3",
                "Vermis_4_5",
                "Vermis_6",
                "Vermis_7",
                "Vermis_8",
                "Vermis_9",
                "Vermis_10",
            ],
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hemisphere_suffixes_match_but_prefixes_do_not() {
        let t = aal_lobes();
        assert_eq!(t.group_of("Frontal_Sup_L"), Some(2));
        assert_eq!(t.group_of("Frontal_Sup_Orb_R"), Some(2));
        assert_eq!(t.group_of("Temporal_Pole_Mid_L"), Some(6), "a temporal pole is limbic, not temporal");
        assert_eq!(t.group_of("Vermis_4_5"), Some(9));
        assert_eq!(t.group_of("Frontal"), None);
    }
}
